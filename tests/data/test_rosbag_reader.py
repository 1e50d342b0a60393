"""Reading bags: the committed fixture, and bags written with rosbags that are broken on purpose."""
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from chatvla2.data.bag_reader import read_stack_bag
from chatvla2.data.bag_writer import TYPESTORE

FIXTURE = Path(__file__).parent / "sim_stack_bag"
T = TYPESTORE.types
NAMES = ["fr3_joint1", "fr3_joint2", "fr3_joint3", "fr3_joint4", "fr3_joint5", "fr3_joint6",
         "fr3_joint7", "fr3_finger_width"]


def header(t_s: float):
    sec = int(t_s)
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=int(round((t_s - sec) * 1e9))),
                                    frame_id="")


def image(t_s: float, encoding: str = "rgb8", value: int = 100):
    data = np.full(4 * 6 * 3, value, dtype=np.uint8)
    return T["sensor_msgs/msg/Image"](header=header(t_s), height=4, width=6, encoding=encoding,
                                      is_bigendian=0, step=18, data=data)


def joint_state(t_s: float, q: float = 0.0):
    return T["sensor_msgs/msg/JointState"](header=header(t_s), name=NAMES, position=np.full(8, q),
                                           velocity=np.zeros(8), effort=np.zeros(0))


def trajectory(t_s: float, q: float, points: int = 1):
    duration = T["builtin_interfaces/msg/Duration"]
    return T["trajectory_msgs/msg/JointTrajectory"](header=header(t_s), joint_names=NAMES, points=[
        T["trajectory_msgs/msg/JointTrajectoryPoint"](
            positions=np.full(8, q), velocities=np.zeros(0), accelerations=np.zeros(0), effort=np.zeros(0),
            time_from_start=duration(sec=0, nanosec=100_000_000 * (k + 1))) for k in range(points)])


def write_bag(path: Path, messages: list[tuple[str, str, float, object]],
              storage: StoragePlugin = StoragePlugin.MCAP) -> Path:
    """messages: (topic, msgtype, log time s, rosbags message)."""
    with Writer(path, version=9, storage_plugin=storage) as writer:
        connections = {}
        for topic, msgtype, t_s, msg in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            writer.write(connections[topic], int(t_s * 1e9), TYPESTORE.serialize_cdr(msg, msgtype))
    return path


def good_messages(n: int = 5) -> list:
    messages = [("/chatvla/instruction", "std_msgs/msg/String", 0.5, T["std_msgs/msg/String"](data="add 3 + 4"))]
    for i in range(n):
        t_s = 1.0 + 0.2 * i
        messages += [("/joint_states", "sensor_msgs/msg/JointState", t_s - 0.01, joint_state(t_s - 0.01, 0.01 * i)),
                     ("/cameras/front/image_raw", "sensor_msgs/msg/Image", t_s, image(t_s)),
                     ("/chatvla/action_chunk", "trajectory_msgs/msg/JointTrajectory", t_s + 0.01, trajectory(t_s, 0.1, 16)),
                     ("/fr3_arm_controller/joint_trajectory", "trajectory_msgs/msg/JointTrajectory", t_s + 0.05,
                      trajectory(t_s + 0.05, 0.02 * i))]
    return messages


def test_fixture_bag_from_the_stack_has_every_stream():
    recording = read_stack_bag(FIXTURE)
    assert recording.problems == []
    frames = recording.frames["front"]
    assert len(frames) > 20 and frames[0].image.shape == (72, 96, 3)
    assert len(recording.joint_states) > 200 and len(recording.commands) > 200
    assert recording.instructions and recording.reasoning and recording.diagnostics
    stamps = {round(f.stamp_s, 6) for f in frames}
    answered = [c for c in recording.chunks if round(c.chunk.stamp_s, 6) in stamps]
    assert len(answered) >= len(recording.chunks) - 1  # every chunk answers a recorded frame
    assert recording.chunks[0].chunk.positions.shape == (16, 8)


@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3])
def test_clean_synthetic_bag_reads_in_both_storages(tmp_path, storage):
    recording = read_stack_bag(write_bag(tmp_path / "bag", good_messages(), storage))
    assert recording.problems == []
    assert len(recording.frames["front"]) == 5 and len(recording.commands) == 5
    assert recording.instructions[0].text == "add 3 + 4"
    np.testing.assert_allclose(recording.commands[-1].positions, 0.08)


def test_missing_topics_are_named(tmp_path):
    messages = [m for m in good_messages() if m[0] not in ("/joint_states", "/chatvla/instruction")]
    problems = [str(p) for p in read_stack_bag(write_bag(tmp_path / "bag", messages)).problems]
    assert any("'/joint_states'" in p and "no valid messages" in p for p in problems)
    assert any("'/chatvla/instruction'" in p for p in problems)


def test_wrong_and_unknown_message_types_skip_the_topic_only(tmp_path):
    messages = good_messages() + [
        ("/chatvla/reasoning", "sensor_msgs/msg/JointState", 2.0, joint_state(2.0)),
        ("/some/other", "std_msgs/msg/String", 2.1, T["std_msgs/msg/String"](data="x"))]
    recording = read_stack_bag(write_bag(tmp_path / "bag", messages))
    problems = [str(p) for p in recording.problems]
    assert any("'/chatvla/reasoning' at t=2.000 s" in p and "expected 'std_msgs/msg/String'" in p for p in problems)
    assert any("'/some/other'" in p and "not a stack topic" in p for p in problems)
    assert len(recording.frames["front"]) == 5


def test_unknown_message_type_from_a_lab_bag(tmp_path):
    """A type our typestore does not know (e.g. franka_msgs) is reported, not fatal."""
    path = write_bag(tmp_path / "bag", good_messages())
    from chatvla2.data.bag_reader import _Decoder, StackRecording

    recording = StackRecording(path)
    _Decoder(recording, "/fr3_arm_controller/joint_trajectory").decode(
        "/joint_states", "franka_msgs/msg/FrankaRobotState", 3_000_000_000, b"\x00\x01")
    assert "unknown message type" in str(recording.problems[0]) and "t=3.000 s" in str(recording.problems[0])


def test_out_of_order_and_duplicate_stamps_are_dropped_with_a_message(tmp_path):
    messages = good_messages() + [
        ("/cameras/front/image_raw", "sensor_msgs/msg/Image", 2.5, image(1.8)),   # repeats the last stamp
        ("/cameras/front/image_raw", "sensor_msgs/msg/Image", 2.6, image(1.1))]   # goes back
    recording = read_stack_bag(write_bag(tmp_path / "bag", messages))
    problems = [str(p) for p in recording.problems]
    assert any("t=2.500 s" in p and "repeats" in p for p in problems)
    assert any("t=2.600 s" in p and "goes back 0.700 s" in p for p in problems)
    assert len(recording.frames["front"]) == 5


def test_images_in_an_unusable_encoding_are_reported_and_skipped(tmp_path):
    messages = good_messages() + [("/cameras/front/image_raw", "sensor_msgs/msg/Image", 3.0, image(3.0, "yuv422")),
                                  ("/cameras/front/image_raw", "sensor_msgs/msg/Image", 3.2, image(3.2, "bgr8", 7))]
    recording = read_stack_bag(write_bag(tmp_path / "bag", messages))
    problems = [str(p) for p in recording.problems]
    assert any("'/cameras/front/image_raw' at t=3.000 s" in p and "yuv422" in p for p in problems)
    assert len(recording.frames["front"]) == 6  # the bgr8 frame is converted, not dropped
    assert recording.frames["front"][-1].image[0, 0].tolist() == [7, 7, 7]


def test_truncated_bag_reads_what_was_written(tmp_path):
    path = write_bag(tmp_path / "bag", good_messages(40))
    mcap = next(path.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) * 2 // 3])
    (path / "metadata.yaml").unlink()
    recording = read_stack_bag(path)
    assert "not closed cleanly" in str(recording.problems[0]) and "cut short" in str(recording.problems[0])
    # rosbags' own writer holds up to 1 MiB per chunk: this whole bag was one chunk, now torn, so
    # nothing survives (the reason the recorder uses CrashSafeBagWriter), yet reading carries on.
    assert recording.frames.get("front", []) == []
    assert any("'/joint_states'" in str(p) and "no valid messages" in str(p) for p in recording.problems)
