"""Replay evaluation on the committed fixture and on a bag recorded from the running stack."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chatvla2.control.robot import load_robot_spec
from chatvla2.data.bag_reader import read_stack_bag
from chatvla2.data.replay import replay
from chatvla2.data.replay_report import check_thresholds, metrics, write_report
from chatvla2.policy.interface import PolicyOutput
from chatvla2.policy.loading import load_policy

FIXTURE = Path(__file__).parent / "sim_stack_bag"


class OffsetPolicy:
    """Wraps a policy and shifts every target by a known amount: the report must see exactly that."""

    def __init__(self, inner, offset_rad: float) -> None:
        self.inner, self.offset_rad = inner, offset_rad

    def reset(self) -> None:
        self.inner.reset()

    def infer(self, observation):
        out = self.inner.infer(observation)
        return PolicyOutput(out.reasoning, out.joint_names, out.actions + self.offset_rad, out.step_dt_s)


def test_placeholder_replay_reproduces_the_recorded_placeholder():
    robot = load_robot_spec("franka_fr3")
    result = replay(read_stack_bag(FIXTURE), load_policy("placeholder", robot), robot)
    values = metrics(result)
    assert values["steps"] > 20 and values["steps_with_recorded_actions"] == values["steps"]
    # the stack ran the same placeholder, so most chunks are reproduced exactly
    assert values["mae_first_step_arm_rad"] < 0.01 and values["reasoning_match_rate"] > 0.8
    assert all(s.recorded_source == "chunk" for s in result.steps)
    assert result.control_ticks > 100


def test_an_offset_policy_shows_up_as_that_error_and_as_rejected_chunks():
    robot = load_robot_spec("franka_fr3")
    recording = read_stack_bag(FIXTURE)
    clean = metrics(replay(recording, load_policy("placeholder", robot), robot))
    shifted_result = replay(recording, OffsetPolicy(load_policy("placeholder", robot), 0.3), robot)
    shifted = metrics(shifted_result)
    assert shifted["mae_arm_rad"] == pytest.approx(clean["mae_arm_rad"] + 0.3, abs=0.02)
    # the controller's chunk gate refuses chunks that jump 0.3 rad away from the measured state
    assert shifted["chunk_rejection_rate"] > 0.8 > clean["chunk_rejection_rate"]
    assert check_thresholds(shifted, {"mae_arm_rad": 0.1}) and not check_thresholds(clean, {"mae_arm_rad": 0.1})
    with pytest.raises(ValueError, match="unknown metric"):
        check_thresholds(shifted, {"mae_nonsense": 1.0})


def test_teleoperation_bag_without_chunks_compares_against_commands(tmp_path, bags):
    messages = [m for m in bags.good_messages(10) if m[0] != "/chatvla/action_chunk"]
    robot = load_robot_spec("franka_fr3")
    result = replay(read_stack_bag(bags.write_bag(tmp_path / "bag", messages)), load_policy("placeholder", robot), robot)
    # the last frame's targets lie after the last recorded command: nothing to compare
    assert [s.recorded_source for s in result.steps] == ["commands"] * 9 + ["none"]
    late = result.steps[-2].recorded  # (H, A) for the frame at 2.6 s; commands end at 2.85 s
    np.testing.assert_allclose(late[0], 0.16)  # the command stamped 2.65 s is in effect at 2.7 s
    assert np.isnan(late[-1]).all()


def test_replay_command_writes_report_and_gates_on_thresholds(tmp_path):
    def run(*extra):
        return subprocess.run([sys.executable, "-m", "chatvla2.cli", "replay", str(FIXTURE), "--model", "placeholder",
                               "--out", str(tmp_path / "report"), *extra], capture_output=True, text=True, timeout=120)

    passed = run("--threshold", "latency_p95_ms=1000", "--threshold", "mae_first_step_arm_rad=0.05")
    assert passed.returncode == 0, passed.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert len(report["mae_per_horizon_step"]) == 16 and len(report["mae_per_joint"]) == 8
    assert report["reasoning_segments"] and "placeholder policy" in report["reasoning_segments"][0]["reasoning"]
    page = (tmp_path / "report" / "index.html").read_text()
    for png in ("targets.png", "error_heatmap.png", "latency_safety.png"):
        assert f"src='{png}'" in page and (tmp_path / "report" / png).read_bytes()[:4] == b"\x89PNG"
    failed = run("--threshold", "mae_arm_rad=0.0000001")
    assert failed.returncode == 1 and "THRESHOLD EXCEEDED: mae_arm_rad" in failed.stderr
    missing = run("--model", str(tmp_path / "no_such_model"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


@pytest.mark.integration
def test_record_then_replay_a_live_stack_bag(stack_bag, tmp_path):
    robot = load_robot_spec("franka_fr3")
    recording = read_stack_bag(stack_bag)
    assert not [p for p in recording.problems if "no valid" in p.problem], recording.problems
    result = replay(recording, load_policy("placeholder", robot), robot)
    values, failures = write_report(result, recording, tmp_path / "r", "placeholder", {"latency_p95_ms": 1000.0})
    assert values["steps"] >= 10 and failures == []
    assert values["mae_first_step_arm_rad"] < 0.05


def test_replay_with_the_shipped_model_reports_its_reasoning_and_errors(tmp_path):
    robot = load_robot_spec("franka_fr3")
    recording = read_stack_bag(FIXTURE)
    result = replay(recording, load_policy(str(Path(__file__).parents[2] / "models" / "chatvla2-tiny"), robot), robot)
    values, failures = write_report(result, recording, tmp_path / "r", "models/chatvla2-tiny", {})
    assert failures == [] and values["steps"] >= 10
    assert np.isfinite(values["mae_arm_rad"]) and values["mae_arm_rad"] > 0
    assert values["warm_up_s"] > 0, "the model is warmed up before the timed frames, and that time reported"
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    reasoning = report["reasoning_segments"][0]["reasoning"]
    assert reasoning and "placeholder" not in reasoning  # the model's own words, not the recorded ones
