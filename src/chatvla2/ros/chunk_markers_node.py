"""Chunk markers node: what the model means to do, as RViz markers, before anyone enables the arm.

Subscribes to the action chunks, the controller's ~/would_command and the stamped reasoning, and
publishes one visualization_msgs/MarkerArray on `chatvla/markers` in the robot's base frame:
  id 0  LINE_STRIP       the chunk's end-effector path (forward kinematics of every row, from the
                         robot YAML's kinematics), stamped with the observation the chunk answers
  id 1  SPHERE_LIST      the same points, one per chunk step
  id 2  SPHERE           the would-command ghost: where the controller would put the end effector
  id 3  TEXT_VIEW_FACING the latest reasoning, above the path's end
The points come from chatvla2/control/end_effector_path.py; this node only packs them.
"""
from __future__ import annotations

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point
from rclpy.node import Node
from std_msgs.msg import ColorRGBA
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray

from chatvla2.control.end_effector_path import end_effector_path_m
from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.conversions import trajectory_to_chunk
from chatvla2.ros.node_helpers import declare, run_node, unknown_parameter_problem
from chatvla2.ros.qos import COMMAND_QOS

PATH, STEPS, GHOST, TEXT = range(4)


class ChunkMarkersNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("chunk_markers", **kwargs)
        self.robot = load_robot_spec(declare(self, "robot", "franka_fr3", "Robot description name or YAML path", read_only=True))
        self.frame_id = declare(self, "frame_id", "fr3_link0", "Base frame of the robot (the URDF's root link)", read_only=True)
        problem = unknown_parameter_problem(self)
        if problem:
            raise ValueError(problem)
        self.reasoning = ""
        self.publisher = self.create_publisher(MarkerArray, "chatvla/markers", COMMAND_QOS)
        self.create_subscription(JointTrajectory, "chatvla/action_chunk", self.on_chunk, COMMAND_QOS)
        self.create_subscription(JointTrajectory, "arm_controller/would_command", self.on_would_command, COMMAND_QOS)
        self.create_subscription(DiagnosticArray, "chatvla/reasoning_stamped", self.on_reasoning, COMMAND_QOS)

    def marker(self, marker_id: int, kind: int, stamp, rgba: tuple[float, float, float, float], scale: float) -> Marker:
        marker = Marker(ns="chatvla2", id=marker_id, type=kind, action=Marker.ADD)
        marker.header.frame_id, marker.header.stamp = self.frame_id, stamp
        marker.pose.orientation.w = 1.0
        marker.scale.x = marker.scale.y = marker.scale.z = scale
        marker.color = ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3])
        return marker

    def on_chunk(self, msg: JointTrajectory) -> None:
        try:
            chunk = trajectory_to_chunk(msg)
            path = end_effector_path_m(self.robot, chunk.joint_names, chunk.positions)  # (H, 3)
        except ValueError as error:
            self.get_logger().warning(f"no markers for this chunk: {error}", throttle_duration_sec=5.0)
            return
        points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in path]
        line = self.marker(PATH, Marker.LINE_STRIP, msg.header.stamp, (0.1, 0.8, 0.2, 1.0), 0.005)
        steps = self.marker(STEPS, Marker.SPHERE_LIST, msg.header.stamp, (0.1, 0.8, 0.2, 1.0), 0.012)
        line.points, steps.points = points, list(points)
        text = self.marker(TEXT, Marker.TEXT_VIEW_FACING, msg.header.stamp, (1.0, 1.0, 1.0, 1.0), 0.03)
        text.pose.position = Point(x=float(path[-1, 0]), y=float(path[-1, 1]), z=float(path[-1, 2]) + 0.08)
        text.text = self.reasoning or "(no reasoning yet)"
        self.publisher.publish(MarkerArray(markers=[line, steps, text]))

    def on_would_command(self, msg: JointTrajectory) -> None:
        try:
            rows = np.array([msg.points[-1].positions], dtype=float)  # (1, A)
            tip = end_effector_path_m(self.robot, tuple(msg.joint_names), rows)[0]
        except (ValueError, IndexError) as error:
            self.get_logger().warning(f"no ghost marker: {error}", throttle_duration_sec=5.0)
            return
        ghost = self.marker(GHOST, Marker.SPHERE, msg.header.stamp, (1.0, 0.6, 0.1, 0.5), 0.04)
        ghost.pose.position = Point(x=float(tip[0]), y=float(tip[1]), z=float(tip[2]))
        self.publisher.publish(MarkerArray(markers=[ghost]))

    def on_reasoning(self, msg: DiagnosticArray) -> None:
        if msg.status:
            self.reasoning = msg.status[0].message


def main(args: list[str] | None = None) -> None:
    run_node(ChunkMarkersNode, args)
