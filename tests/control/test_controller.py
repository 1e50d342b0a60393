import numpy as np
import pytest

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.controller import ArmController, ControllerConfig
from chatvla2.control.robot import load_robot_spec
from chatvla2.control.safety import SafetyConfig

ROBOT = load_robot_spec("franka_fr3")
NAMES = ROBOT.command_names


def ready(config=ControllerConfig()) -> ArmController:
    controller = ArmController(ROBOT, config)
    controller.on_joint_state(list(NAMES), ROBOT.home_command, 0.0)
    controller.tick(0.0)
    return controller


def sway(stamp_s: float, amplitude: float = 0.1) -> ActionChunk:
    rows = np.tile(ROBOT.home_command, (16, 1))
    rows[:, 0] += amplitude * np.linspace(0.1, 1.0, 16)
    return ActionChunk(NAMES, rows, 0.1, stamp_s)


@pytest.mark.parametrize("chunk, category", [
    (ActionChunk(NAMES[::-1], np.tile(ROBOT.home_command[::-1], (4, 1)), 0.1, 0.0), None),  # reordered: fine
    (ActionChunk(NAMES[:-1], np.tile(ROBOT.home_command[:-1], (4, 1)), 0.1, 0.0), "joint names"),
    (ActionChunk(NAMES[:-1] + ("fr3_joint1",), np.tile(ROBOT.home_command, (4, 1)), 0.1, 0.0), "joint names"),
    (ActionChunk(NAMES, np.full((4, 8), np.inf), 0.1, 0.0), "non-finite"),
    (sway(-2.0), "observation too old"),
    (sway(1.0), "stamped in the future"),
    (sway(0.0, amplitude=5.0), "speed limit"),
    (ActionChunk(NAMES, np.tile(ROBOT.home_command + np.r_[0.5, np.zeros(7)], (4, 1)), 0.1, 0.0),
     "jump from measured state"),
])
def test_gate_rejects_whole_chunks_by_category(chunk, category):
    controller = ready()
    reason = controller.on_chunk(chunk, 0.01)
    if category is None:
        assert reason is None
    else:
        assert reason and controller.interventions[f"rejected chunk: {category}"] == 1, reason


def test_follows_a_chunk_then_holds_on_timeout_and_stale_state():
    controller = ready()
    assert controller.on_chunk(sway(0.0), 0.0) is None
    for k in range(1, 40):
        controller.on_joint_state(list(NAMES), controller.last_command, k * 0.01)
        step = controller.tick(k * 0.01)
    assert not step.holding and step.command[0] > ROBOT.home_command[0]
    step = controller.tick(0.39 + controller.config.chunk_timeout_s + 0.2)
    assert step.holding and "chunk timeout" in step.reasons and "joint state stale" in step.reasons


def test_resume_only_from_a_safe_state_and_never_replays_old_chunks():
    controller = ready()
    controller.stop()
    controller.tick(0.01)
    assert controller.resume(5.0) == "no fresh joint state"
    away = ROBOT.home_command + np.r_[0.2, np.zeros(7)]
    controller.on_joint_state(list(NAMES), away, 5.0)
    assert "not settled" in controller.resume(5.0)
    controller.on_joint_state(list(NAMES), ROBOT.home_command, 5.0)
    assert controller.resume(5.0) is None and not controller.stopped
    assert "before the resume" in controller.on_chunk(sway(4.9), 5.0)
    assert controller.on_chunk(sway(5.0), 5.0) is None


def test_resume_without_a_stop_keeps_the_chunk_playing():
    controller = ready()
    assert controller.on_chunk(sway(0.0), 0.0) is None
    before = controller.tick(0.05).command
    assert controller.resume(0.06) is None and not controller.stopped
    after = controller.tick(0.07)
    assert after.command is not None and "no chunk to play" not in after.reasons, after.reasons
    assert after.command[0] > before[0], "the chunk kept moving joint 1 (it used to be dropped: a hold)"


def test_dry_run_until_enabled():
    controller = ready(ControllerConfig(dry_run=True))
    assert not controller.actuation_enabled
    controller.stop()
    assert controller.enable(0.05) == "stop latched: resume first"
    controller.on_joint_state(list(NAMES), ROBOT.home_command, 0.05)
    assert controller.resume(0.05) is None and controller.enable(0.05) is None
    assert controller.actuation_enabled


def test_joint_state_with_nan_missing_repeated_or_miscounted_joints_is_refused():
    controller = ArmController(ROBOT)
    assert "lacks" in controller.on_joint_state(["fr3_joint1"], np.zeros(1), 0.0)
    assert "NaN" in controller.on_joint_state(list(NAMES), np.full(8, np.nan), 0.0)
    # A driver listing a joint twice: which value is the arm's is unknowable, so nothing is taken.
    assert "repeats joints ['fr3_joint1']" in controller.on_joint_state(
        list(NAMES) + ["fr3_joint1"], np.append(ROBOT.home_command, 1.0), 0.0)
    assert "has 7 columns for 8 joint names" in controller.on_joint_state(list(NAMES), ROBOT.home_command[:-1], 0.0)
    assert controller.interventions["joint state malformed"] == 3
    assert controller.tick(0.0).command is None


def test_enable_after_a_dry_run_that_ran_ahead_starts_from_the_still_arm():
    """In dry run the would-be command follows the chunk while the arm stays: enabling must not be
    refused as 'not settled', and must start where the arm is, with a chunk made from now on."""
    controller = ready(ControllerConfig(dry_run=True))
    assert controller.on_chunk(sway(0.0, amplitude=0.3), 0.0) is None
    for k in range(1, 120):
        controller.on_joint_state(list(NAMES), ROBOT.home_command, 0.01 * k)  # the arm never moves
        controller.tick(0.01 * k)
    assert controller.last_command[0] - ROBOT.home_command[0] > 0.1, "the dry run ran ahead"
    assert controller.enable(1.2) is None and controller.actuation_enabled
    held = controller.tick(1.21)
    assert held.holding and np.allclose(held.command, ROBOT.home_command), "the dry-run chunk is dropped"
    assert controller.on_chunk(sway(1.0), 1.21) is not None, "a chunk from before enable is refused"
    assert controller.on_chunk(sway(1.21), 1.22) is None
    first = controller.tick(1.23).command
    assert abs(first[0] - ROBOT.home_command[0]) <= ControllerConfig().safety.max_step_rad + 1e-12


def test_retune_halves_the_velocity_limit_from_the_next_tick():
    controller = ready(ControllerConfig(chunk_timeout_s=5.0, safety=SafetyConfig(velocity_scale=0.2, max_step_rad=0.2)))
    assert controller.on_chunk(sway(0.0, amplitude=1.0), 0.0) is None
    joint1 = []

    def tick(k: int) -> None:  # the arm follows its command
        command = controller.tick(0.01 * k).command
        controller.on_joint_state(list(NAMES), command, 0.01 * k)
        joint1.append(command[0])

    for k in range(1, 62):
        tick(k)
    v_max = ROBOT.velocity_max_rad_s[0]
    assert joint1[-1] - joint1[-2] == pytest.approx(0.2 * v_max * 0.01, rel=1e-6), "cruising at the old limit"
    controller.retune(SafetyConfig(velocity_scale=0.1, max_step_rad=0.2), 5.0)
    for k in range(62, 120):
        tick(k)
    steps = np.diff(joint1[60:])
    assert all(later <= earlier + 1e-12 for earlier, later in zip(steps, steps[1:])), "brakes, never speeds up"
    assert steps[-1] == pytest.approx(0.1 * v_max * 0.01, rel=1e-6), "the new limit holds"
    with pytest.raises(ValueError):
        controller.retune(SafetyConfig(velocity_scale=0.1), 0.0)
