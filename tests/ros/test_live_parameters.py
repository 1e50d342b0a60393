"""`ros2 param set` on the arm controller, through the node's real parameter services: a live
parameter changes the commanded motion from the next period, a value outside its range and a
read-only parameter are refused with a reason, and an unknown key in a parameter file stops the
node at start naming the key and the nearest declared name."""
from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.conversions import chunk_to_trajectory

from ros_testing import BIN, spin_until

pytestmark = pytest.mark.integration

ROBOT = load_robot_spec("franka_fr3")
V_MAX_J1 = ROBOT.velocity_max_rad_s[0]


def set_parameter(probe, name: str, value):
    client = probe.node.create_client(SetParameters, "/arm_controller/set_parameters")
    assert spin_until(probe.context, probe.node, client.service_is_ready, 10.0)
    future = client.call_async(SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()]))
    assert spin_until(probe.context, probe.node, future.done, 10.0)
    return future.result().results[0]


def joint1_speed(probe, since: float) -> np.ndarray:
    """Commanded joint-1 speed (rad/s) per control period since `since`."""
    commands = [(t, p[0]) for t, p in probe.commands if t >= since]
    return np.abs(np.diff([p for _, p in commands])) / 0.01


def test_param_set_velocity_scale_halves_the_commanded_speed_from_the_next_period(stack, node_processes):
    probe = stack
    assert spin_until(probe.context, probe.node, lambda: probe.chunks.get_subscription_count() > 0, 10.0)

    def move_joint1_by(delta_rad: float) -> float:
        """A chunk whose every row is the arm's position + delta on joint 1; returns when sent."""
        rows = np.tile(probe.states[-1][1], (16, 1))
        rows[:, 0] += delta_rad
        probe.chunks.publish(chunk_to_trajectory(ActionChunk(ROBOT.command_names, rows, 0.1, probe.now_s())))
        return time.monotonic()

    assert set_parameter(probe, "velocity_scale", 0.4).successful
    fast = joint1_speed(probe, (move_joint1_by(0.25), probe.spin(1.0))[0])
    assert set_parameter(probe, "velocity_scale", 0.2).successful
    slow = joint1_speed(probe, (move_joint1_by(-0.25), probe.spin(1.0))[0])
    assert np.max(fast) == pytest.approx(0.4 * V_MAX_J1, rel=0.01), node_processes.log("arm_controller_node")
    assert np.max(slow) == pytest.approx(0.2 * V_MAX_J1, rel=0.01), "the halved limit is the cruise speed"

    # Mid-motion: from the first period after the set, the arm is within the new limit.
    assert set_parameter(probe, "velocity_scale", 0.4).successful
    started = move_joint1_by(0.25)
    probe.spin(0.12)  # cruising at 0.4 x v_max
    changed = time.monotonic()
    assert set_parameter(probe, "velocity_scale", 0.2).successful
    answered = time.monotonic()
    probe.spin(0.6)
    before = joint1_speed(probe, started)
    after = joint1_speed(probe, answered)
    assert np.max(before) > 0.3 * V_MAX_J1, "was not cruising fast when the parameter changed"
    assert np.max(after) <= 0.2 * V_MAX_J1 * 1.0001, after

    out_of_range = set_parameter(probe, "velocity_scale", 1.5)
    assert not out_of_range.successful and "range" in out_of_range.reason.lower(), out_of_range.reason
    read_only = set_parameter(probe, "control_rate_hz", 50.0)
    assert not read_only.successful and "read-only" in read_only.reason, read_only.reason
    print(f"\ncruise at velocity_scale 0.4: {np.max(fast):.3f} rad/s, at 0.2: {np.max(slow):.3f} rad/s; "
          f"set answered in {(answered - changed) * 1e3:.1f} ms; refused: '{out_of_range.reason}' / '{read_only.reason}'")


def test_unknown_key_in_a_parameter_file_stops_the_node_with_the_nearest_name(tmp_path, ros_domain):
    params = tmp_path / "typo.yaml"
    params.write_text("arm_controller:\n  ros__parameters:\n    driver: sim\n    velocity_scal: 0.1\n")
    result = subprocess.run([str(BIN / "arm_controller_node"), "--ros-args", "--params-file", str(params)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "unknown parameter 'velocity_scal' (did you mean 'velocity_scale'?)" in result.stdout + result.stderr
