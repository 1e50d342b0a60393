"""The walking skeleton as separate processes over real DDS: types, stamps, QoS, motion."""
from __future__ import annotations

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.conversions import time_to_seconds
from chatvla2.ros.qos import COMMAND_QOS, INSTRUCTION_QOS, SENSOR_QOS

from ros_testing import REPO, spin_until, stamp_among

pytestmark = pytest.mark.integration
PARAMS = str(REPO / "config" / "sim.yaml")
ROBOT = load_robot_spec("franka_fr3")


def start_skeleton(node_processes):
    for executable in ("sim_arm_node", "arm_controller_node", "inference_node", "camera_node"):
        node_processes.start(executable, "--params-file", PARAMS)


def test_messages_cross_dds_with_right_types_and_stamps(rclpy_context, node_processes):
    start_skeleton(node_processes)
    node = __import__("rclpy").create_node("skeleton_probe", context=rclpy_context)
    seen = {"images": [], "chunks": [], "reasoning": [], "states": [], "commands": []}
    node.create_subscription(Image, "/cameras/front/image_raw", seen["images"].append, SENSOR_QOS)
    node.create_subscription(JointTrajectory, "/chatvla/action_chunk", seen["chunks"].append, COMMAND_QOS)
    node.create_subscription(String, "/chatvla/reasoning", seen["reasoning"].append, COMMAND_QOS)
    node.create_subscription(JointState, "/joint_states", seen["states"].append, SENSOR_QOS)
    node.create_subscription(JointTrajectory, "/fr3_arm_controller/joint_trajectory",
                             seen["commands"].append, COMMAND_QOS)
    # Discovery matches the probe's readers one by one; start counting once every stream flows.
    flowing = spin_until(rclpy_context, node, lambda: all(len(v) >= 2 for v in seen.values()), timeout_s=60)
    assert flowing, f"streams never all flowed: {[(k, len(v)) for k, v in seen.items()]}"
    for messages in seen.values():
        messages.clear()
    ok = spin_until(rclpy_context, node, lambda: len(seen["chunks"]) >= 5 and len(seen["commands"]) >= 50
                    and len(seen["images"]) >= 3 and len(seen["states"]) >= 10,
                    timeout_s=60)
    logs = {name: node_processes.log(name) for name in node_processes.procs}
    assert ok, f"skeleton produced {[(k, len(v)) for k, v in seen.items()]}; logs: {logs}"

    image = seen["images"][-1]
    assert (image.encoding, image.width, image.height, image.step) == ("rgb8", 320, 240, 960)
    assert len(image.data) == 240 * 960
    now_s = node.get_clock().now().nanoseconds * 1e-9
    assert abs(now_s - time_to_seconds(image.header.stamp)) < 5.0

    # Images are best effort, so the probe may miss a frame; most chunks must answer one it saw.
    image_stamps = {time_to_seconds(m.header.stamp) for m in seen["images"]}
    answered = [stamp_among(time_to_seconds(c.header.stamp), image_stamps) for c in seen["chunks"]]
    assert sum(answered) >= len(answered) // 2, "chunks must carry their frame's stamp"
    chunk = seen["chunks"][-1]
    assert list(chunk.joint_names) == list(ROBOT.command_names)
    times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in chunk.points]
    assert len(times) == 16 and np.all(np.diff(times) > 0)
    assert seen["reasoning"] and "placeholder policy" in seen["reasoning"][-1].data

    command = np.array(seen["commands"][-1].points[0].positions)
    assert np.all(np.isfinite(command)) and command.shape == (8,)
    first, last = (np.array(s.position) for s in (seen["states"][0], seen["states"][-1]))
    assert np.abs(last - first).max() > 1e-3, "the simulated arm never moved"
    node.destroy_node()


def test_instruction_reaches_a_late_subscriber(rclpy_context, node_processes):
    node = __import__("rclpy").create_node("instruction_source", context=rclpy_context)
    publisher = node.create_publisher(String, "/chatvla/instruction", INSTRUCTION_QOS)
    publisher.publish(String(data="put the toy to the left of the cup"))
    inference = node_processes.start("inference_node", "--params-file", PARAMS)

    def received() -> bool:
        return "put the toy to the left of the cup" in node_processes.log("inference_node")

    assert spin_until(rclpy_context, node, received, timeout_s=30), node_processes.log("inference_node")
    infos = node.get_subscriptions_info_by_topic("/chatvla/instruction")
    assert infos and all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
    code = node_processes.stop("inference_node")
    assert code == 0 and inference.returncode == 0, f"exit status {code}:\n" + node_processes.log("inference_node")
    node.destroy_node()
