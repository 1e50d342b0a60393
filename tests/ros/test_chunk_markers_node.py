"""The chunk markers, headless: published markers sit at the forward kinematics of the chunk's
rows (to 1e-6 m), the ghost at the would-command's, the text is the stamped reasoning."""
from __future__ import annotations

import numpy as np
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.chunk_markers_node import ChunkMarkersNode
from chatvla2.ros.conversions import chunk_to_trajectory
from chatvla2.ros.joint_messages import trajectory_point
from chatvla2.ros.qos import COMMAND_QOS

from ros_testing import REPO

ROBOT = load_robot_spec("franka_fr3")


DH = yaml.safe_load((REPO / "config" / "robots" / "franka_fr3.yaml").read_text())["kinematics"]


def fk(rows: np.ndarray) -> np.ndarray:
    """Forward kinematics written out here from the YAML's modified-DH table (Craig), not the project's code."""
    out = []
    for q in rows[:, :7]:
        transform = np.eye(4)
        for a, d, alpha, theta in zip(DH["a_m"], DH["d_m"], DH["alpha_rad"], q):
            ca, sa, ct, st = np.cos(alpha), np.sin(alpha), np.cos(theta), np.sin(theta)
            transform = transform @ np.array([[ct, -st, 0, a], [st * ca, ct * ca, -sa, -d * sa],
                                              [st * sa, ct * sa, ca, d * ca], [0, 0, 0, 1]])
        out.append((transform @ np.append(DH["tool_xyz_m"], 1.0))[:3])
    return np.array(out)


def test_markers_equal_forward_kinematics_of_the_chunk_rows(rclpy_context):
    node = ChunkMarkersNode(context=rclpy_context)
    probe = rclpy.create_node("marker_probe", context=rclpy_context)
    arrays: list[MarkerArray] = []
    probe.create_subscription(MarkerArray, "/chatvla/markers", arrays.append, COMMAND_QOS)
    chunks = probe.create_publisher(JointTrajectory, "/chatvla/action_chunk", COMMAND_QOS)
    would = probe.create_publisher(JointTrajectory, "/arm_controller/would_command", COMMAND_QOS)
    reasoning = probe.create_publisher(DiagnosticArray, "/chatvla/reasoning_stamped", COMMAND_QOS)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    executor.add_node(probe)

    def spin_until(predicate, steps: int = 300) -> bool:
        for _ in range(steps):
            executor.spin_once(timeout_sec=0.01)
            if predicate():
                return True
        return False

    try:
        assert spin_until(lambda: chunks.get_subscription_count() and would.get_subscription_count()
                          and reasoning.get_subscription_count())
        reasoning.publish(DiagnosticArray(status=[DiagnosticStatus(message="3 + 4 = 7, so pick the card 7")]))
        spin_until(lambda: node.reasoning != "")
        rows = np.tile(ROBOT.home_command, (16, 1))
        rows[:, 0] += np.linspace(0.0, 0.4, 16)
        rows[:, 3] += np.linspace(0.0, 0.3, 16)
        chunks.publish(chunk_to_trajectory(ActionChunk(ROBOT.command_names, rows, 0.1, 12.5)))
        assert spin_until(lambda: any(len(a.markers) == 3 for a in arrays))
        path_array = next(a for a in arrays if len(a.markers) == 3)
        line, steps, text = path_array.markers
        points = np.array([[p.x, p.y, p.z] for p in line.points])
        np.testing.assert_allclose(points, fk(rows), atol=1e-6)
        assert line.type == Marker.LINE_STRIP and line.header.frame_id == "fr3_link0"
        assert line.header.stamp.sec == 12 and line.header.stamp.nanosec == 500_000_000
        assert len(steps.points) == 16 and text.text == "3 + 4 = 7, so pick the card 7"

        ghost_at = rows[5]
        would.publish(trajectory_point(list(ROBOT.command_names), ghost_at, 0.01, probe))
        assert spin_until(lambda: any(len(a.markers) == 1 for a in arrays))
        ghost = next(a for a in arrays if len(a.markers) == 1).markers[0]
        np.testing.assert_allclose([ghost.pose.position.x, ghost.pose.position.y, ghost.pose.position.z],
                                   fk(ghost_at[None])[0], atol=1e-6)
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
