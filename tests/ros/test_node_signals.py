"""Every node run standalone stops cleanly on a terminal's Ctrl-C: SIGINT to its whole process
group, and the second SIGINT a launcher forwards while the node is still tearing down. Exit
status 0, no traceback, no C++ abort ('terminate called ...')."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from ros_testing import BIN, REPO

pytestmark = pytest.mark.integration
PARAMS = str(REPO / "config" / "sim.yaml")
NODES = {  # executable -> (extra ROS arguments, a log line that says it is up)
    "camera_node": ([], "camera 'front'"),
    "inference_node": (["-p", "torch_threads:=1"], "configured with policy"),
    "arm_controller_node": ([], "via sim at"),
    "sim_arm_node": ([], None),  # the kinematic arm says nothing when it starts: given 5 s
    "recorder_node": (["-p", "output:={out}"], "recording"),
}


@pytest.mark.parametrize("second_after_s", [0.05, 0.3], ids=["second SIGINT at 50 ms", "at 300 ms"])
@pytest.mark.parametrize("executable", list(NODES))
def test_ctrl_c_twice_is_a_clean_exit(ros_domain, tmp_path, executable, second_after_s):
    extra, ready_text = NODES[executable]
    extra = [arg.format(out=tmp_path / "bag") for arg in extra]
    log_path = tmp_path / f"{executable}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(BIN / executable), "--ros-args", "--params-file", PARAMS, *extra],
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + (60.0 if ready_text else 5.0)
        while (ready_text or "\0") not in log_path.read_text() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert proc.poll() is None and (ready_text is None or ready_text in log_path.read_text()), log_path.read_text()
        time.sleep(0.5)  # running, not starting
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends: the whole foreground group
        time.sleep(second_after_s)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # the launcher forwarding it during teardown
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = log_path.read_text()
    assert code == 0, f"exit status {code}:\n{output}"
    assert "Traceback" not in output and "terminate called" not in output, output
