"""Test peer standing in for franka_ros2: serves franka_gripper's move/grasp/homing actions (the
franka_msgs definitions, built from tests/interfaces), obeys JointTrajectory commands on the
fr3_arm_controller topic, publishes /joint_states with fr3_joint1..7 and the two finger joints.
Prints one JSON line per goal and per 100 trajectory commands received."""
import json

import numpy as np
import rclpy
from franka_msgs.action import Grasp, Homing, Move
from rclpy.action import ActionServer
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.qos import COMMAND_QOS

ROBOT = load_robot_spec("franka_fr3")


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("franka_peer")
    arm = {"positions": ROBOT.home_positions_rad.copy(), "width": 0.08, "commands": 0}

    def finish(kind, width_of):
        def execute(handle):
            goal = handle.request
            fields = {"goal": kind}
            if kind != "homing":
                fields.update(width=goal.width, speed=goal.speed)
            if kind == "grasp":
                fields.update(force=goal.force, epsilon=[goal.epsilon.inner, goal.epsilon.outer])
            print(json.dumps(fields), flush=True)
            arm["width"] = width_of(goal)
            handle.succeed()
            return {"move": Move, "grasp": Grasp, "homing": Homing}[kind].Result(success=True)
        return execute

    ActionServer(node, Move, "/franka_gripper/move", finish("move", lambda g: g.width))
    ActionServer(node, Grasp, "/franka_gripper/grasp", finish("grasp", lambda g: g.width))
    ActionServer(node, Homing, "/franka_gripper/homing", finish("homing", lambda g: 0.08))

    def on_command(msg: JointTrajectory) -> None:
        by_name = dict(zip(msg.joint_names, msg.points[-1].positions))
        arm["positions"] = np.array([by_name[n] for n in ROBOT.joint_names])
        arm["commands"] += 1
        if arm["commands"] % 100 == 1:
            print(json.dumps({"trajectory": list(msg.joint_names), "count": arm["commands"]}), flush=True)

    node.create_subscription(JointTrajectory, "/fr3_arm_controller/joint_trajectory", on_command, COMMAND_QOS)
    states = node.create_publisher(JointState, "/joint_states", 10)

    def publish_state() -> None:
        msg = JointState(name=list(ROBOT.joint_names) + ["fr3_finger_joint1", "fr3_finger_joint2"],
                         position=arm["positions"].tolist() + [arm["width"] / 2] * 2)
        msg.header.stamp = node.get_clock().now().to_msg()
        states.publish(msg)

    node.create_timer(0.01, publish_state)
    rclpy.spin(node)


if __name__ == "__main__":
    main()
