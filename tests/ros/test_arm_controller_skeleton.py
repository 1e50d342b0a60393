"""The walking skeleton (camera, inference with the placeholder policy, controller, kinematic sim
arm) as separate processes: every setpoint on the arm's command topic is within the limits, and
a stop freezes the command on the next control period (measured and printed)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.controller import ControllerConfig
from chatvla2.control.robot import load_robot_spec
from chatvla2.control.safety import SafetyLimits

from ros_testing import REPO, spin_until

pytestmark = pytest.mark.integration
PARAMS = str(REPO / "config" / "sim.yaml")
ROBOT = load_robot_spec("franka_fr3")


def test_skeleton_setpoints_within_limits_and_stop_freezes_next_period(rclpy_context, node_processes):
    for executable in ("sim_arm_node", "arm_controller_node", "inference_node", "camera_node"):
        node_processes.start(executable, "--params-file", PARAMS)
    node = rclpy.create_node("limits_probe", context=rclpy_context)
    commands: list[tuple[float, np.ndarray]] = []
    node.create_subscription(JointTrajectory, "/fr3_arm_controller/joint_trajectory",
                             lambda m: commands.append((time.monotonic(), np.asarray(m.points[0].positions))), 10)
    moving = lambda: len(commands) > 300 and np.ptp(np.stack([c for _, c in commands]), axis=0).max() > 0.01  # noqa: E731
    assert spin_until(rclpy_context, node, moving, 60.0), {n: node_processes.log(n)[-2000:] for n in node_processes.procs}

    config = ControllerConfig()
    limits = SafetyLimits.for_robot(ROBOT, config.safety, config.control_period_s)
    series = np.stack([c for _, c in commands])  # (T, 8)
    steps = np.abs(np.diff(series, axis=0))  # (T - 1, 8)
    within = (np.all(series >= limits.low - 1e-9) and np.all(series <= limits.high + 1e-9)
              and np.all(steps <= limits.step_max + 1e-9) and np.all(steps <= limits.velocity_max * limits.period_s + 1e-9))
    print(f"\n{len(series)} setpoints from the skeleton, all within limits: {within}; "
          f"largest joint step {steps[:, :7].max():.4f} rad (limit {limits.step_max[0]:.3f})")
    assert within and np.all(np.isfinite(series))

    client = node.create_client(Trigger, "/chatvla/stop")
    assert spin_until(rclpy_context, node, client.service_is_ready, 10.0)
    future = client.call_async(Trigger.Request())
    assert spin_until(rclpy_context, node, future.done, 10.0) and future.result().success
    replied_at = time.monotonic()
    spin_until(rclpy_context, node, lambda: False, 1.0)
    after = [c for t, c in commands if t > replied_at]
    frozen = after[0]
    moving_periods = sum(1 for c in after if not np.array_equal(c, frozen))
    print(f"after /chatvla/stop: {len(after)} setpoints, {moving_periods} differ from the first one "
          f"(frozen from the first period after the reply)")
    assert len(after) > 5 and moving_periods == 0
    node.destroy_node()
