"""Reading bags: the committed fixture, and bags written with rosbags that are broken on purpose."""
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin

from chatvla2.data.bag_reader import read_stack_bag
from chatvla2.data.bag_writer import TYPESTORE

FIXTURE = Path(__file__).parent / "sim_stack_bag"
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
def test_clean_synthetic_bag_reads_in_both_storages(tmp_path, storage, bags):
    recording = read_stack_bag(bags.write_bag(tmp_path / "bag", bags.good_messages(), storage))
    assert recording.problems == []
    assert len(recording.frames["front"]) == 5 and len(recording.commands) == 5
    assert recording.instructions[0].text == "add 3 + 4"
    np.testing.assert_allclose(recording.commands[-1].positions, 0.08)


def test_missing_topics_are_named(tmp_path, bags):
    messages = [m for m in bags.good_messages() if m[0] not in ("/joint_states", "/chatvla/instruction")]
    problems = [str(p) for p in read_stack_bag(bags.write_bag(tmp_path / "bag", messages)).problems]
    assert any("'/joint_states'" in p and "no valid messages" in p for p in problems)
    assert any("'/chatvla/instruction'" in p for p in problems)


def test_wrong_and_unknown_message_types_skip_the_topic_only(tmp_path, bags):
    messages = bags.good_messages() + [
        ("/chatvla/reasoning", "sensor_msgs/msg/JointState", 2.0, bags.joint_state(2.0)),
        ("/some/other", "std_msgs/msg/String", 2.1, bags.T["std_msgs/msg/String"](data="x"))]
    recording = read_stack_bag(bags.write_bag(tmp_path / "bag", messages))
    problems = [str(p) for p in recording.problems]
    assert any("'/chatvla/reasoning' at t=2.000 s" in p and "expected 'std_msgs/msg/String'" in p for p in problems)
    assert any("'/some/other'" in p and "not a stack topic" in p for p in problems)
    assert len(recording.frames["front"]) == 5


def test_unknown_message_type_from_a_lab_bag(tmp_path, bags):
    """A type our typestore does not know (e.g. franka_msgs) is reported, not fatal."""
    path = bags.write_bag(tmp_path / "bag", bags.good_messages())
    from chatvla2.data.bag_reader import _Decoder, StackRecording

    recording = StackRecording(path)
    _Decoder(recording, "/fr3_arm_controller/joint_trajectory").decode(
        "/joint_states", "franka_msgs/msg/FrankaRobotState", 3_000_000_000, b"\x00\x01")
    assert "unknown message type" in str(recording.problems[0]) and "t=3.000 s" in str(recording.problems[0])


def test_out_of_order_and_duplicate_stamps_are_dropped_with_a_message(tmp_path, bags):
    messages = bags.good_messages() + [
        ("/cameras/front/image_raw", "sensor_msgs/msg/Image", 2.5, bags.image(1.8)),   # repeats the last stamp
        ("/cameras/front/image_raw", "sensor_msgs/msg/Image", 2.6, bags.image(1.1))]   # goes back
    recording = read_stack_bag(bags.write_bag(tmp_path / "bag", messages))
    problems = [str(p) for p in recording.problems]
    assert any("t=2.500 s" in p and "repeats" in p for p in problems)
    assert any("t=2.600 s" in p and "goes back 0.700 s" in p for p in problems)
    assert len(recording.frames["front"]) == 5


def test_images_in_an_unusable_encoding_are_reported_and_skipped(tmp_path, bags):
    messages = bags.good_messages() + [("/cameras/front/image_raw", "sensor_msgs/msg/Image", 3.0, bags.image(3.0, "yuv422")),
                                  ("/cameras/front/image_raw", "sensor_msgs/msg/Image", 3.2, bags.image(3.2, "bgr8", 7))]
    recording = read_stack_bag(bags.write_bag(tmp_path / "bag", messages))
    problems = [str(p) for p in recording.problems]
    assert any("'/cameras/front/image_raw' at t=3.000 s" in p and "yuv422" in p for p in problems)
    assert len(recording.frames["front"]) == 6  # the bgr8 frame is converted, not dropped
    assert recording.frames["front"][-1].image[0, 0].tolist() == [7, 7, 7]


def test_truncated_bag_reads_what_was_written(tmp_path, bags):
    path = bags.write_bag(tmp_path / "bag", bags.good_messages(40))
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


def test_compressed_camera_frames_decode_to_the_recorded_pixels(tmp_path, bags):
    from chatvla2.imaging.compressed import encode_compressed

    picture = np.zeros((4, 6, 3), dtype=np.uint8)
    picture[..., 0], picture[1, 2] = 210, (1, 2, 3)
    payload, fmt = encode_compressed(picture, "png")
    messages = []
    for topic, msgtype, t_s, msg in bags.good_messages():
        if topic == "/cameras/front/image_raw":
            topic, msgtype = "/cameras/front/image_raw/compressed", "sensor_msgs/msg/CompressedImage"
            msg = bags.T[msgtype](header=msg.header, format=fmt, data=np.frombuffer(payload, dtype=np.uint8))
        messages.append((topic, msgtype, t_s, msg))
    recording = read_stack_bag(bags.write_bag(tmp_path / "compressed", messages))
    assert len(recording.frames["front"]) == 5 and not recording.problems, recording.problems
    np.testing.assert_array_equal(recording.frames["front"][0].image, picture)
