"""Soak: 10^5 control periods of the real ArmController under random and adversarial input
(good chunks, NaN chunks, wild jumps, wrong robots, stale and future stamps, stops, resumes,
joint-state dropouts and noise), every command audited against every limit. Must count 0."""
import numpy as np

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.controller import ArmController, ControllerConfig
from chatvla2.control.robot import load_robot_spec

PERIODS = int(__import__("os").environ.get("SOAK_PERIODS", 100_000))


def random_chunk(rng, robot, around, now_s):
    names = robot.command_names
    kind = rng.choice(["good", "good", "good", "wild", "nan", "wrong robot", "stale", "future"])
    horizon = int(rng.integers(1, 20))
    steps = np.cumsum(rng.normal(0.0, 0.02, (horizon, len(names))), axis=0)  # (H, A)
    rows = around + steps
    stamp = now_s - rng.uniform(0.0, 0.2)
    if kind == "wild":
        rows = around + rng.normal(0.0, 3.0, rows.shape)
        stamp = now_s
    elif kind == "nan":
        rows[rng.integers(horizon), rng.integers(len(names))] = rng.choice([np.nan, np.inf, -np.inf])
    elif kind == "wrong robot":
        names = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("panda_finger_width",)
    elif kind == "stale":
        stamp = now_s - rng.uniform(1.5, 100.0)
    elif kind == "future":
        stamp = now_s + rng.uniform(0.1, 10.0)
    return ActionChunk(names, rows, float(rng.choice([0.02, 0.05, 0.1])), stamp)


def test_soak_counts_zero_violations(auditor_factory):
    rng = np.random.default_rng(0)
    robot = load_robot_spec("franka_fr3")
    mode_rng = ["latest", "ensemble", "handover"]
    violations = 0
    periods_run = 0
    for mode in mode_rng:
        controller = ArmController(robot, ControllerConfig(execution_mode=mode))
        period_s = controller.config.control_period_s
        measured = robot.home_command.copy()
        controller.on_joint_state(list(robot.command_names), measured, 0.0)
        controller.tick(0.0)  # the filter starts at rest where the arm is
        auditor = auditor_factory(controller.limits, controller.last_command)
        for k in range(1, PERIODS // len(mode_rng) + 2):
            now_s = k * period_s
            if rng.random() > 0.01:  # 1 % of joint states lost
                noisy = measured + rng.normal(0.0, 1e-4, measured.shape)
                controller.on_joint_state(list(robot.command_names), noisy, now_s)
            if rng.random() < 0.1:
                controller.on_chunk(random_chunk(rng, robot, measured, now_s), now_s)
            if rng.random() < 0.002:
                controller.stop()
            if controller.stopped and rng.random() < 0.02:
                controller.resume(now_s)
            step = controller.tick(now_s)
            # The two deliberate freezes (velocity zero at once) are checked as such: no motion at all.
            frozen = "stop latched" in step.reasons or "workspace box" in step.reasons
            found = auditor.check(step.command, frozen=frozen)
            if found:
                print(f"period {k} ({mode}): {found} after {step.reasons}")
            violations += len(found)
            measured = step.command.copy()  # a perfectly tracking arm
            periods_run += 1
    print(f"\nsoak: {periods_run} periods, {violations} limit violations, "
          f"interventions: {dict(controller.interventions)}")
    assert periods_run >= PERIODS
    assert violations == 0
