"""Recorder node: writes the stack's topics, exactly as serialized on DDS, to a rosbag2 MCAP bag.

Subscriptions are raw (`raw=True`): the CDR bytes that crossed DDS go to the bag unparsed, stamped
with this node's clock at reception, like `ros2 bag record`. The bag is flushed in complete MCAP
chunks every `flush_period_s`, so a crash loses at most that much (chatvla2.data.bag_writer).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from chatvla2.data.bag_topics import ARM_COMMAND_TOPIC, JOINT_STATES_TOPIC, RecordedTopic, stack_topics
from chatvla2.data.bag_writer import CrashSafeBagWriter
from chatvla2.ros.node_helpers import declare, run_node
from chatvla2.ros.qos import INSTRUCTION_QOS

MESSAGE_CLASSES = {
    "sensor_msgs/msg/Image": Image, "sensor_msgs/msg/CompressedImage": CompressedImage,
    "sensor_msgs/msg/CameraInfo": CameraInfo,
    "sensor_msgs/msg/JointState": JointState, "std_msgs/msg/String": String,
    "trajectory_msgs/msg/JointTrajectory": JointTrajectory,
    "diagnostic_msgs/msg/DiagnosticArray": DiagnosticArray,
}

# A best-effort subscriber hears both best-effort and reliable publishers; the deep queues keep
# bursts (a chunk, its reasoning and a diagnostics array at once) from being dropped.
RECORDER_QOS = {
    "sensor": QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE),
    "reliable": QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                           reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE),
    "latched": INSTRUCTION_QOS,
}


def default_bag_path() -> str:
    return f"rosbag2_chatvla2_{datetime.now().strftime('%Y_%m_%d-%H_%M_%S')}"


class RecorderNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("recorder", **kwargs)
        output = declare(self, "output", "", "Bag directory to create (default: rosbag2_chatvla2_<date>)")
        cameras = list(declare(self, "camera_names", ["front"], "Cameras whose image_raw and camera_info are recorded"))
        command_topic = declare(self, "command_topic", ARM_COMMAND_TOPIC, "Arm command topic to record")
        compressed = list(declare(self, "compressed_cameras", [""], "Cameras recorded from image_raw/compressed (sensor_msgs/CompressedImage) instead of image_raw"))
        joint_state_topics = list(declare(self, "joint_state_topics", [JOINT_STATES_TOPIC],
                                          "JointState topics to record (Franka: /franka/joint_states and /franka_gripper/joint_states)"))
        flush_period_s = declare(self, "flush_period_s", 0.5, "At most this much is lost if the process dies")
        self.path = Path(output or default_bag_path())
        self.writer = CrashSafeBagWriter(self.path, flush_period_s)
        for topic in stack_topics(cameras, command_topic, tuple(joint_state_topics), tuple(c for c in compressed if c)):
            self.subscribe(topic)
        self.create_timer(flush_period_s, self.writer.flush)
        self.get_logger().info(f"recording {len(cameras)} camera(s) and the stack's topics to {self.path}")

    def subscribe(self, topic: RecordedTopic) -> None:
        # The bag names the topic as resolved in this node's namespace, as `ros2 bag record` does.
        name = self.resolve_topic_name(topic.name)
        self.writer.add_topic(name, topic.msgtype)
        self.create_subscription(
            MESSAGE_CLASSES[topic.msgtype], name,
            lambda cdr, name=name, topic=topic: self.writer.write(
                name, topic.msgtype, self.get_clock().now().nanoseconds, cdr),
            RECORDER_QOS[topic.qos], raw=True)

    def destroy_node(self) -> None:
        self.writer.close()
        self.get_logger().info(f"bag closed: {self.path} ({self.writer.message_count} messages)")
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(RecorderNode, args)


def record(output: Path, cameras: list[str], command_topic: str, duration_s: float,
           joint_state_topics: list[str] | None = None) -> Path:
    """`chatvla2 record`: record until duration_s has passed (0: until Ctrl-C/SIGTERM)."""
    import time

    end = time.monotonic() + duration_s if duration_s > 0 else float("inf")
    run_node(RecorderNode, ["--ros-args", "-p", f"output:={output}", "-p", f"command_topic:={command_topic}",
                            "-p", f"camera_names:=[{','.join(cameras)}]",
                            "-p", f"joint_state_topics:=[{','.join(joint_state_topics or [JOINT_STATES_TOPIC])}]"],
             keep_going=lambda: time.monotonic() < end)
    return Path(output)
