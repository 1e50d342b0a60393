"""The main job, `chatvla2 run`: bounded runs exit 0; SIGINT and SIGTERM stop it cleanly."""
import signal
import subprocess
import time

import pytest

from ros_testing import BIN, REPO

pytestmark = pytest.mark.integration


def test_bounded_run_prints_reasoning_and_arm_and_exits_zero(ros_domain):
    result = subprocess.run([str(BIN / "chatvla2"), "run", "--steps", "4"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("reasoning: placeholder policy") >= 4
    assert "[step   4]" in result.stdout and "arm: fr3_joint" in result.stdout
    assert "stack stopped after 4 steps" in result.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_unbounded_run_stops_cleanly_on_signal(ros_domain, sig):
    proc = subprocess.Popen([str(BIN / "chatvla2"), "run", "--steps", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "[step   2]" in line:
            break
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + output
    assert "stack stopped after" in output
    assert "Traceback" not in output and "never retrieved" not in output, output
