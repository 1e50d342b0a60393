"""The stack's topics as a recorder sees them: name, message type and how to subscribe.

Plain data (no ROS): the recorder node maps `qos` to rclpy profiles, the bag tools use the names.
"""
from __future__ import annotations

from dataclasses import dataclass

ARM_COMMAND_TOPIC = "/fr3_arm_controller/joint_trajectory"
INSTRUCTION_TOPIC = "/chatvla/instruction"
REASONING_TOPIC = "/chatvla/reasoning"
ACTION_CHUNK_TOPIC = "/chatvla/action_chunk"
JOINT_STATES_TOPIC = "/joint_states"
DIAGNOSTICS_TOPIC = "/diagnostics"

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
STRING_TYPE = "std_msgs/msg/String"
TRAJECTORY_TYPE = "trajectory_msgs/msg/JointTrajectory"
DIAGNOSTICS_TYPE = "diagnostic_msgs/msg/DiagnosticArray"


@dataclass(frozen=True)
class RecordedTopic:
    name: str
    msgtype: str  # ROS 2 interface name, e.g. "sensor_msgs/msg/Image"
    qos: str      # "sensor" (best effort), "reliable", or "latched" (reliable, transient local)


def image_topic(camera: str) -> str:
    return f"/cameras/{camera}/image_raw"


def is_joint_state_topic(topic: str) -> bool:
    """/joint_states and the vendors' own joint-state topics (franka_ros2: /franka/joint_states,
    /franka_gripper/joint_states): the robot's state is assembled from all of them."""
    return topic.rstrip("/").split("/")[-1] == "joint_states"


def camera_from_image_topic(topic: str) -> str | None:
    """The camera of /cameras/<name>/image_raw and of its image_transport twin .../compressed."""
    parts = topic.strip("/").split("/")
    if parts[-1:] == ["compressed"]:
        parts = parts[:-1]
    if len(parts) == 3 and parts[0] == "cameras" and parts[2] == "image_raw":
        return parts[1]
    return None


def stack_topics(cameras: list[str], command_topic: str = ARM_COMMAND_TOPIC,
                 joint_state_topics: tuple[str, ...] = (JOINT_STATES_TOPIC,),
                 compressed_cameras: tuple[str, ...] = ()) -> list[RecordedTopic]:
    """compressed_cameras: cameras recorded as sensor_msgs/CompressedImage (image_raw/compressed)."""
    """Every topic of the stack that a test or a fine-tuning run needs (docs/control.md lists them)."""
    for topic in joint_state_topics:
        if not is_joint_state_topic(topic):
            raise ValueError(f"joint state topic '{topic}' must end in 'joint_states' (the bag tools read those)")
    topics = []
    for camera in cameras:
        if camera in compressed_cameras:
            topics.append(RecordedTopic(f"{image_topic(camera)}/compressed", COMPRESSED_IMAGE_TYPE, "sensor"))
        else:
            topics.append(RecordedTopic(image_topic(camera), IMAGE_TYPE, "sensor"))
        topics.append(RecordedTopic(f"/cameras/{camera}/camera_info", CAMERA_INFO_TYPE, "sensor"))
    topics += [
        *(RecordedTopic(topic, JOINT_STATE_TYPE, "sensor") for topic in dict.fromkeys(joint_state_topics)),
        RecordedTopic(INSTRUCTION_TOPIC, STRING_TYPE, "latched"),
        RecordedTopic(REASONING_TOPIC, STRING_TYPE, "reliable"),
        RecordedTopic(ACTION_CHUNK_TOPIC, TRAJECTORY_TYPE, "reliable"),
        RecordedTopic(command_topic, TRAJECTORY_TYPE, "reliable"),
        RecordedTopic(DIAGNOSTICS_TOPIC, DIAGNOSTICS_TYPE, "reliable"),
    ]
    return topics
