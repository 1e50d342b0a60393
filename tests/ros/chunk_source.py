"""A stand-in inference process for fault tests: publishes 10 chunks/s that sway joint 1 around
the arm's measured state, stamped with the state's time, until it is killed."""
import numpy as np
import rclpy
from sensor_msgs.msg import JointState

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.robot import load_robot_spec
from chatvla2.control.robot_state import RobotStateAssembler
from chatvla2.ros.conversions import chunk_to_trajectory
from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS
from trajectory_msgs.msg import JointTrajectory


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("chunk_source")
    state = {}
    assembler = RobotStateAssembler(load_robot_spec("franka_fr3"))  # the sim arm speaks franka_ros2

    def on_state(msg: JointState) -> None:
        robot_state = assembler.update(msg.name, msg.position, 0.0)
        if robot_state is not None:
            state["state"] = robot_state

    node.create_subscription(JointState, "/joint_states", on_state, SENSOR_QOS)
    publisher = node.create_publisher(JointTrajectory, "/chatvla/action_chunk", COMMAND_QOS)

    def publish() -> None:
        if "state" not in state:
            return
        robot_state = state["state"]
        now_s = node.get_clock().now().nanoseconds * 1e-9
        rows = np.tile(robot_state.positions, (16, 1))  # (H, A)
        rows[:, 0] += 0.1 * np.linspace(0.1, 1.0, 16)
        publisher.publish(chunk_to_trajectory(ActionChunk(robot_state.names, rows, 0.1, now_s)))

    node.create_timer(0.1, publish)
    rclpy.spin(node)


if __name__ == "__main__":
    main()
