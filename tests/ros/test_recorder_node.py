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


def enough(bag: Path) -> bool:
    """The recording so far has > 100 joint states, front frames and the instruction."""
    try:
        recording = read_stack_bag(bag)
    except Exception:  # a chunk half-written at this instant: look again later
        return False
    return len(recording.joint_states) > 100 and bool(recording.frames.get("front")) and bool(recording.instructions)


@pytest.mark.integration
def test_sigkill_mid_run_leaves_a_recoverable_bag(tmp_path):
    env = helpers.stack_env()
    stack = helpers.start_stack(helpers.small_stack_params(tmp_path), env, tmp_path / "stack.log")
    bag = tmp_path / "bag"
    recorder = helpers.start_recorder(bag, env, tmp_path / "recorder.log", flush_period_s=0.2)
    try:
        deadline = time.monotonic() + 60.0  # start-up of two processes on a busy 2-core machine
        # Kill once the bag on disk (flushed, still open) holds every kind of message: waiting on
        # the file's size alone let images fill it while the joint states' subscription was
        # still being matched on a loaded machine.
        while time.monotonic() < deadline:
            if any(f.stat().st_size > 150_000 for f in bag.glob("*.mcap")) and enough(bag):
                break
            time.sleep(0.5)
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
