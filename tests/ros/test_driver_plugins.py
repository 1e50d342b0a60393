"""Arm drivers are plug-ins: the package's own three are registered, and a driver registered by
another distribution (written here as a test-only one: a module plus an entry point) runs the
controller with no change to chatvla2, its own parameters declared and its gripper homed."""
from __future__ import annotations

import sys
import textwrap
import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.conversions import chunk_to_trajectory
from chatvla2.ros.drivers import DriverPlugin, available_drivers, load_driver
from chatvla2.ros.qos import COMMAND_QOS

pytestmark = pytest.mark.integration
ROBOT = load_robot_spec("franka_fr3")

# A driver for hardware we do not have: an arm that reaches every setpoint at once and reports it.
LOOPBACK_MODULE = textwrap.dedent('''
    import numpy as np

    from chatvla2.control.drivers.base import JointReading
    from chatvla2.ros.conversions import node_now_s
    from chatvla2.ros.drivers import DriverPlugin


    class LoopbackArm:
        def __init__(self, node, robot, params):
            self.node, self.names = node, robot.command_names
            self.positions = np.asarray(robot.home_command, dtype=float)
            self.params, self.setpoints, self.homed, self.links = params, [], 0, []

        def connect(self):
            self.links.append("connect")

        def close(self):
            self.links.append("close")

        def read_joint_state(self):
            return JointReading(self.names, self.positions.copy(), node_now_s(self.node))

        def send_setpoint(self, command, period_s):
            self.positions = np.asarray(command, dtype=float)
            self.setpoints.append(self.positions.copy())

        def command_gripper(self, width_m, force_n):
            self.positions[-1] = width_m

        def home_gripper(self):
            self.homed += 1

        def stop(self):
            pass


    PLUGIN = DriverPlugin(name="loopback_arm", make=LoopbackArm, description="test double",
                          parameters={"loopback_label": ("none", "a parameter only this driver has")})
''')


@pytest.fixture
def outside_distribution(tmp_path, monkeypatch):
    """A distribution that is not chatvla2: its module and dist-info on sys.path."""
    (tmp_path / "loopback_driver.py").write_text(LOOPBACK_MODULE)
    info = tmp_path / "loopback_driver-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: loopback-driver\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[chatvla2.drivers]\nloopback_arm = loopback_driver:PLUGIN\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("loopback_driver", None)


def test_the_packages_own_drivers_are_registered_plug_ins():
    assert {"sim", "franka_ros2", "arx_r5"} <= set(available_drivers())
    for name in ("sim", "franka_ros2", "arx_r5"):  # loading never needs franka_msgs or the ARX SDK
        plugin = load_driver(name)
        assert isinstance(plugin, DriverPlugin) and plugin.name == name and callable(plugin.make)
    assert "grasp_force_n" in load_driver("franka_ros2").parameters
    assert "can_port" in load_driver("arx_r5").parameters and "can_port" not in load_driver("sim").parameters
    with pytest.raises(ValueError, match=r"no arm driver 'nope' is registered.*'sim'"):
        load_driver("nope")


def test_a_driver_from_another_distribution_runs_the_controller(outside_distribution, rclpy_context):
    from rclpy.lifecycle import TransitionCallbackReturn

    from chatvla2.ros.arm_controller_node import ArmControllerNode

    assert "loopback_arm" in available_drivers()
    node = ArmControllerNode(context=rclpy_context, parameter_overrides=[
        Parameter("driver", value="loopback_arm"), Parameter("loopback_label", value="bench 3"),
        Parameter("dry_run", value=True)])
    probe = rclpy.create_node("plugin_probe", context=rclpy_context)
    chunks = probe.create_publisher(JointTrajectory, "/chatvla/action_chunk", COMMAND_QOS)
    enable = probe.create_client(Trigger, "/chatvla/enable")
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    executor.add_node(probe)
    try:
        assert node.get_parameter("loopback_label").value == "bench 3", "the plug-in's own parameter"
        assert not node.has_parameter("can_port"), "only the selected driver's parameters are declared"
        assert node.driver is None, "building the node touches no hardware"
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS  # configure makes the driver
        driver = node.driver
        assert type(driver).__name__ == "LoopbackArm" and driver.params == {"loopback_label": "bench 3"}
        assert driver.links == ["connect"], "configure connects the driver once"
        spin(executor, lambda: node.core.measured is not None, 5.0)  # the first control periods read the arm
        assert enable.wait_for_service(timeout_sec=5.0)
        future = enable.call_async(Trigger.Request())
        spin(executor, future.done, 5.0)
        assert future.result().success, future.result().message
        assert driver.homed == 1, "enabling actuation homes the gripper through the interface"
        target = np.asarray(ROBOT.home_command, dtype=float)
        target[0] += 0.1
        for _ in range(10):  # 16-row chunks easing joint 1 out by 0.1 rad, re-sent like a policy
            now_s = probe.get_clock().now().nanoseconds * 1e-9
            start = driver.positions.copy()
            rows = start + np.linspace(0.0, 1.0, 16)[:, None] * (target - start)  # (16, 8)
            chunks.publish(chunk_to_trajectory(ActionChunk(ROBOT.command_names, rows, 0.1, now_s)))
            spin(executor, lambda: False, 0.2)
        assert len(driver.setpoints) > 50, "the controller sent setpoints to the plug-in's arm"
        assert driver.positions[0] - ROBOT.home_command[0] > 0.02, "the arm moved toward the chunk"
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert driver.links == ["connect", "close"] and node.driver is None, "cleanup closes the driver"
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()


def spin(executor, done, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not done():
        executor.spin_once(timeout_sec=0.01)
