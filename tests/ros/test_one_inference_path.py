"""One inference path: the inference node over DDS and `chatvla2 eval`'s policy answer the same
observations with the same reasoning text and the same action chunks.

The observations are the ones `chatvla2 eval` itself feeds its policy in a held-out math episode
(recorded by a wrapper around the eval policy), then sent to the node as camera frames and joint
states over real DDS. Both run the shipped model in sync mode (the node's `runtime_mode` parameter,
eval's `--mode`), so a fresh reasoning answers every frame.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import load_robot_spec
from chatvla2.control.robot_state import vendor_joint_state
from chatvla2.ros.conversions import seconds_to_time, time_to_seconds
from chatvla2.ros.image_conversion import array_to_image_msg
from chatvla2.ros.inference_node import InferenceNode
from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS

pytestmark = pytest.mark.integration
MODEL = "models/chatvla2-tiny"
CAMERAS = ["front", "wrist"]


class Recorder:
    """The eval policy, remembering every observation it was asked about and its answer."""

    def __init__(self, policy) -> None:
        self.policy, self.calls = policy, []

    def reset(self) -> None:
        self.policy.reset()

    def infer(self, observation):
        output = self.policy.infer(observation)
        self.calls.append((observation, output))
        return output


def eval_path_calls(robot) -> list:
    from chatvla2.policy.loading import close_policy
    from chatvla2.sim.commands import make_policy
    from chatvla2.sim.env import SimConfig, TaskEnv
    from chatvla2.sim.episode import run_episode

    env = TaskEnv(robot, SimConfig(image_height_px=224, image_width_px=224))
    policy = Recorder(make_policy(MODEL, env, robot, "sync"))  # what `chatvla2 eval --mode sync` builds
    try:
        run_episode(env, policy, "math", 100003, "heldout", max_steps=24, query_every_steps=8)
    finally:
        close_policy(policy.policy)
        env.close_renderer()
    return policy.calls


def test_node_over_dds_and_eval_give_identical_reasoning_and_chunks(rclpy_context):
    robot = load_robot_spec("franka_fr3")
    calls = eval_path_calls(robot)
    assert len(calls) == 3, "24 steps at 8 executed rows each: three policy calls"
    instruction = calls[0][0].instruction

    node = InferenceNode(context=rclpy_context, parameter_overrides=[
        Parameter("policy", value=MODEL), Parameter("runtime_mode", value="sync"),
        Parameter("camera_names", value=CAMERAS), Parameter("instruction", value=instruction),
        Parameter("torch_threads", value=0), Parameter("warm_up_image_size_px", value=[224, 224]),
        Parameter("max_observation_age_s", value=30.0)])
    probe = rclpy.create_node("one_path_probe", context=rclpy_context)
    images = {c: probe.create_publisher(Image, f"/cameras/{c}/image_raw", SENSOR_QOS) for c in CAMERAS}
    joints = probe.create_publisher(JointState, "/joint_states", SENSOR_QOS)
    chunks: list[JointTrajectory] = []
    texts: list[String] = []
    probe.create_subscription(JointTrajectory, "/chatvla/action_chunk", chunks.append, COMMAND_QOS)
    probe.create_subscription(String, "/chatvla/reasoning", texts.append, COMMAND_QOS)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    executor.add_node(probe)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        for index, (observation, expected) in enumerate(calls):
            stamp_s = probe.get_clock().now().nanoseconds * 1e-9
            names, positions = vendor_joint_state(robot, columns_by_name(
                observation.joint_names, observation.joint_positions, robot.command_names, "observation"))
            state = JointState(name=names, position=positions.tolist())  # as franka_ros2 publishes it
            state.header.stamp = seconds_to_time(stamp_s)
            joints.publish(state)
            images["wrist"].publish(array_to_image_msg(observation.images["wrist"], "rgb8",
                                                       seconds_to_time(stamp_s), "wrist"))
            spin_for(executor, 0.3)
            images["front"].publish(array_to_image_msg(observation.images["front"], "rgb8",
                                                       seconds_to_time(stamp_s), "front"))  # the trigger
            deadline = time.monotonic() + 60.0
            while len(chunks) <= index and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
            spin_for(executor, 0.2)  # the reasoning string is published just before its chunk
            assert len(chunks) == index + 1 and len(texts) == index + 1, f"call {index}: no answer from the node"
            chunk = chunks[index]
            assert time_to_seconds(chunk.header.stamp) == pytest.approx(stamp_s, abs=1e-6)
            assert texts[index].data == expected.reasoning, f"call {index}: the node reasoned differently"
            assert tuple(chunk.joint_names) == expected.joint_names
            positions = np.array([point.positions for point in chunk.points])  # (H, A)
            np.testing.assert_array_equal(positions, expected.actions, err_msg=f"call {index}: chunks differ")
        assert calls[0][1].reasoning.startswith("the board says"), "the shipped model said no reasoning"
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()


def spin_for(executor, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.01)
