"""Inference node: camera frames + joint state + instruction -> reasoning text + action chunk.

Each new frame of the primary camera (the first of `camera_names`) is one observation; the
policy's chunk is published stamped with that frame's time.
"""
from __future__ import annotations

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.robot import load_robot_spec
from chatvla2.imaging.encoding import to_rgb8
from chatvla2.policy.interface import Observation
from chatvla2.policy.loading import load_policy
from chatvla2.ros.conversions import chunk_to_trajectory, time_to_seconds
from chatvla2.ros.image_conversion import image_msg_to_array
from chatvla2.ros.node_helpers import declare, run_node
from chatvla2.ros.qos import COMMAND_QOS, INSTRUCTION_QOS, SENSOR_QOS


class InferenceNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("inference", **kwargs)
        robot = load_robot_spec(declare(self, "robot", "franka_fr3", "Robot description name or YAML path"))
        self.policy = load_policy(declare(self, "policy", "placeholder", "'placeholder' or a model directory"), robot)
        self.camera_names = list(declare(self, "camera_names", ["front"], "Cameras fed to the policy; the first triggers inference"))
        self.instruction = declare(self, "instruction", "pick the card that answers the equation", "Task until one arrives on the instruction topic")
        self.max_observation_age_s = declare(self, "max_observation_age_s", 0.5, "Frames or joint states older than this are not used")
        self.frames: dict[str, tuple[float, np.ndarray]] = {}
        self.joint_state: JointState | None = None
        for name in self.camera_names:
            self.create_subscription(Image, f"/cameras/{name}/image_raw",
                                     lambda msg, name=name: self.on_image(name, msg), SENSOR_QOS)
        self.create_subscription(JointState, "/joint_states", self.on_joint_state, SENSOR_QOS)
        self.create_subscription(String, "/chatvla/instruction", self.on_instruction, INSTRUCTION_QOS)
        self.reasoning_pub = self.create_publisher(String, "/chatvla/reasoning", COMMAND_QOS)
        self.chunk_pub = self.create_publisher(JointTrajectory, "/chatvla/action_chunk", COMMAND_QOS)

    def on_instruction(self, msg: String) -> None:
        self.instruction = msg.data
        self.policy.reset()
        self.get_logger().info(f"new instruction: {msg.data!r}")

    def on_joint_state(self, msg: JointState) -> None:
        self.joint_state = msg

    def on_image(self, camera: str, msg: Image) -> None:
        try:
            frame = to_rgb8(image_msg_to_array(msg), msg.encoding)
        except ValueError as error:
            self.get_logger().error(f"camera '{camera}': dropped frame: {error}", throttle_duration_sec=5.0)
            return
        self.frames[camera] = (time_to_seconds(msg.header.stamp), frame)
        if camera == self.camera_names[0]:
            self.answer(time_to_seconds(msg.header.stamp))

    def answer(self, stamp_s: float) -> None:
        now_s = self.get_clock().now().nanoseconds * 1e-9
        if self.joint_state is None or len(self.frames) < len(self.camera_names):
            return
        stale = [name for name, (t, _) in self.frames.items() if now_s - t > self.max_observation_age_s]
        if stale or now_s - time_to_seconds(self.joint_state.header.stamp) > self.max_observation_age_s:
            self.get_logger().warn(f"observation too old (cameras {stale} or joint state); skipped",
                                   throttle_duration_sec=5.0)
            return
        try:
            observation = Observation(
                images={name: frame for name, (_, frame) in self.frames.items()},
                joint_names=tuple(self.joint_state.name),
                joint_positions=np.asarray(self.joint_state.position, dtype=float),
                instruction=self.instruction, stamp_s=stamp_s)
            output = self.policy.infer(observation)
            chunk = ActionChunk(output.joint_names, output.actions, output.step_dt_s, stamp_s)
        except ValueError as error:
            self.get_logger().error(f"no chunk for this frame: {error}", throttle_duration_sec=5.0)
            return
        if not np.all(np.isfinite(chunk.positions)):
            self.get_logger().error("policy returned non-finite actions; no chunk published")
            return
        self.reasoning_pub.publish(String(data=output.reasoning))
        self.chunk_pub.publish(chunk_to_trajectory(chunk))


def main(args: list[str] | None = None) -> None:
    run_node(InferenceNode, args)
