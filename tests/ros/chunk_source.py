"""A stand-in inference process for fault tests: publishes 10 chunks/s that sway joint 1 around
the arm's measured state, stamped with the state's time, until it is killed."""
import numpy as np
import rclpy
from sensor_msgs.msg import JointState

from chatvla2.control.chunk import ActionChunk
from chatvla2.ros.conversions import chunk_to_trajectory
from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS
from trajectory_msgs.msg import JointTrajectory


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("chunk_source")
    state = {}
    node.create_subscription(JointState, "/joint_states", lambda m: state.update(msg=m), SENSOR_QOS)
    publisher = node.create_publisher(JointTrajectory, "/chatvla/action_chunk", COMMAND_QOS)

    def publish() -> None:
        if "msg" not in state:
            return
        msg = state["msg"]
        now_s = node.get_clock().now().nanoseconds * 1e-9
        rows = np.tile(np.asarray(msg.position), (16, 1))  # (H, A)
        rows[:, 0] += 0.1 * np.linspace(0.1, 1.0, 16)
        publisher.publish(chunk_to_trajectory(ActionChunk(tuple(msg.name), rows, 0.1, now_s)))

    node.create_timer(0.1, publish)
    rclpy.spin(node)


if __name__ == "__main__":
    main()
