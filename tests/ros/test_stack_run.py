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


def test_model_trial_in_mujoco_reports_outcome_and_saves_strip(ros_domain, tmp_path):
    """The README's demo path: the trained model drives the MuJoCo arm through the whole stack."""
    result = subprocess.run([str(BIN / "chatvla2"), "run", "--params", "config/sim_model.yaml", "--trials", "1",
                             "--trial-seconds", "5", "--out", str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, timeout=240)
    out = result.stdout
    # `run --trials` exits 1 when a trial fails (5 s is too short to finish one: it says so)
    picked = "1/1 trials picked the right card" in out
    assert result.returncode == (0 if picked else 1), out + result.stderr
    assert "trial 1/1: heldout scene, seed 100000 (ground truth: board shows" in out, out
    assert "instruction: pick up the card that shows the answer" in out
    assert "  reasoning: " in out, out + result.stderr
    assert "  result: " in out and "trials picked the right card" in out
    # The stack runs on simulated time: stamps come from the sim arm's /clock and every node
    # measures ages on it (a node left on wall time rejects each chunk as ~1.8e9 s old), so a slow
    # machine slows the loop instead of starving it with stale joint states and stale chunks.
    assert "joint state stale" not in out + result.stderr, out + result.stderr
    assert "chunk answers an observation" not in out + result.stderr, out + result.stderr
    strips = list(tmp_path.glob("trial_1_seed_100000.png"))
    assert strips, out
    import cv2

    strip = cv2.imread(str(strips[0]))
    assert strip is not None and strip.shape[1] >= 2 * 224, "a strip of several front-camera frames"


def test_missing_parameter_file_or_model_is_one_clear_line(ros_domain, tmp_path):
    missing = subprocess.run([str(BIN / "chatvla2"), "run", "--params", str(tmp_path / "nope.yaml")], cwd=REPO,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert f"chatvla2 run: error: parameter file '{tmp_path / 'nope.yaml'}' does not exist" in missing.stderr
    params = tmp_path / "no_model.yaml"
    params.write_text((REPO / "config" / "sim.yaml").read_text().replace("policy: placeholder", "policy: /no/such/model"))
    no_model = subprocess.run([str(BIN / "chatvla2"), "run", "--params", str(params), "--steps", "1"], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
    assert no_model.returncode == 2 and "Traceback" not in no_model.stderr, no_model.stderr
    assert "/no/such/model" in no_model.stderr and "does not exist" in no_model.stderr, no_model.stderr
