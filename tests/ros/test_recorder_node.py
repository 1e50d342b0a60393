"""The recorder node over real DDS: a SIGKILL mid-run leaves a bag with everything flushed before it."""
import importlib.util
import signal
import time
from pathlib import Path

import pytest
from rosbags.rosbag2 import Reader

from chatvla2.data.bag_reader import read_stack_bag
from chatvla2.data.bag_repair import repair_bag

_spec = importlib.util.spec_from_file_location(
    "bag_test_helpers", Path(__file__).resolve().parents[1] / "data" / "conftest.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


@pytest.mark.integration
def test_sigkill_mid_run_leaves_a_recoverable_bag(tmp_path):
    env = helpers.stack_env()
    stack = helpers.start_stack(helpers.small_stack_params(tmp_path), env, tmp_path / "stack.log")
    bag = tmp_path / "bag"
    recorder = helpers.start_recorder(bag, env, tmp_path / "recorder.log", flush_period_s=0.2)
    try:
        deadline = time.monotonic() + 60.0  # start-up of two processes on a busy 2-core machine
        # Images dominate the size, so also let 3 s pass after the data starts flowing: enough
        # joint states (100 Hz) even when a loaded machine drops some best-effort samples.
        flowing_since = None
        while time.monotonic() < deadline:
            written = sum(f.stat().st_size for f in bag.glob("*.mcap"))
            if flowing_since is None and written > 20_000:
                flowing_since = time.monotonic()
            if written >= 150_000 and flowing_since is not None and time.monotonic() - flowing_since > 3.0:
                break
            time.sleep(0.2)
        killed_at_ns = time.time_ns()
        recorder.send_signal(signal.SIGKILL)
        recorder.wait(timeout=10)
    finally:
        helpers.stop(recorder)
        helpers.stop(stack)
    assert recorder.returncode == -signal.SIGKILL
    assert not (bag / "metadata.yaml").exists()  # the writer never got to close
    recording = read_stack_bag(bag)
    assert "not closed cleanly" in str(recording.problems[0])
    assert len(recording.joint_states) > 50 and recording.frames["front"] and recording.instructions
    repaired, _ = repair_bag(bag, tmp_path / "repaired")
    with Reader(tmp_path / "repaired") as reader:
        assert reader.message_count == len(repaired.messages) > 100
        # at most one flush period (plus scheduling) is lost before the kill
        assert killed_at_ns - reader.end_time < 2.0e9
