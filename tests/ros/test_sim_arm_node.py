"""The MuJoCo sim arm node over real DDS: joint states, camera images, /clock, trajectory commands."""
from __future__ import annotations

import numpy as np
import pytest
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from chatvla2.control.robot import load_robot_spec
from chatvla2.control.robot_state import RobotStateAssembler
from chatvla2.ros.conversions import seconds_to_duration, time_to_seconds
from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS

from ros_testing import spin_until

pytestmark = pytest.mark.integration
ROBOT = load_robot_spec("franka_fr3")



def opening_state(msg) -> np.ndarray:
    """(8,) arm joints and opening, through the robot's state path."""
    return RobotStateAssembler(ROBOT).update(msg.name, msg.position, 0.0).positions

def test_mujoco_backend_obeys_trajectories_and_publishes_sim_time(rclpy_context, node_processes):
    import rclpy

    node_processes.start("sim_arm_node", "-p", "backend:=mujoco", "-p", "publish_clock:=true",
                         "-p", "image_size_px:=64", "-p", "task:=math", "-p", "seed:=3")
    node = rclpy.create_node("sim_arm_probe", context=rclpy_context)
    seen = {"states": [], "images": [], "infos": [], "clock": []}
    node.create_subscription(JointState, "/joint_states", seen["states"].append, 10)
    node.create_subscription(Image, "/cameras/front/image_raw", seen["images"].append, SENSOR_QOS)
    node.create_subscription(CameraInfo, "/cameras/wrist/camera_info", seen["infos"].append, SENSOR_QOS)
    node.create_subscription(Clock, "/clock", seen["clock"].append, 10)
    ready = spin_until(rclpy_context, node, lambda: all(len(v) >= 3 for v in seen.values()), timeout_s=60)
    assert ready, ({k: len(v) for k, v in seen.items()}, node_processes.log("sim_arm_node"))

    image, info = seen["images"][-1], seen["infos"][-1]
    assert (image.encoding, image.width, image.height) == ("rgb8", 64, 64)
    assert np.asarray(image.data, dtype=np.uint8).std() > 10, "the simulated camera rendered a blank frame"
    assert info.k[0] > 0 and info.k[2] == pytest.approx(32.0)
    state = seen["states"][-1]
    # As franka_ros2 publishes the Hand: two finger joints, each half the opening.
    assert list(state.name) == list(ROBOT.joint_names) + ["fr3_finger_joint1", "fr3_finger_joint2"]
    np.testing.assert_allclose(opening_state(state), ROBOT.home_command, atol=0.02)
    assert time_to_seconds(state.header.stamp) < 60.0, "stamps must be simulated time with publish_clock"

    target = ROBOT.home_command.copy()
    target[0] += 0.3
    target[7] = 0.02
    publisher = node.create_publisher(JointTrajectory, "/fr3_arm_controller/joint_trajectory", COMMAND_QOS)
    spin_until(rclpy_context, node, lambda: publisher.get_subscription_count() > 0, timeout_s=10)
    # Malformed commands are refused whole, with the reason logged, and the arm stays where it is.
    names = list(ROBOT.command_names)
    for bad_names in (names[:-1], names[:-1] + [names[0]], names + ["fr3_joint8"]):
        bad = JointTrajectory(joint_names=bad_names)
        bad.points.append(JointTrajectoryPoint(positions=[target[0]] * len(bad_names),
                                               time_from_start=seconds_to_duration(0.2)))
        publisher.publish(bad)
    log_has = lambda text: text in node_processes.log("sim_arm_node")  # noqa: E731
    refused = spin_until(rclpy_context, node, lambda: log_has("ignored command: command lacks joints"), timeout_s=10)
    assert refused, node_processes.log("sim_arm_node")
    start = len(seen["states"])
    spin_until(rclpy_context, node, lambda: len(seen["states"]) > start + 50, timeout_s=10)
    np.testing.assert_allclose(opening_state(seen["states"][-1]), ROBOT.home_command, atol=0.02)

    command = JointTrajectory(joint_names=list(reversed(ROBOT.command_names)))  # order must not matter
    command.points.append(JointTrajectoryPoint(positions=target[::-1].tolist(),
                                               time_from_start=seconds_to_duration(0.5)))
    publisher.publish(command)
    moved = spin_until(rclpy_context, node,
                       lambda: abs(opening_state(seen["states"][-1])[0] - target[0]) < 0.01
                       and abs(opening_state(seen["states"][-1])[7] - 0.02) < 0.005, timeout_s=30)
    assert moved, (seen["states"][-1].position, node_processes.log("sim_arm_node"))
    clock_s = [time_to_seconds(c.clock) for c in seen["clock"]]
    assert np.all(np.diff(clock_s) > 0), "simulated time must advance"
    node.destroy_node()
