"""Read a rosbag2 bag (MCAP or sqlite3) of the stack into plain, time-ordered samples.

Tolerant by design: every problem (missing topic, unknown or unexpected message type,
undecodable message, stamp going backwards or repeated, image in an encoding we cannot use, a bag
cut short by a crash) becomes a `BagProblem` naming the topic and the time, and reading carries on
with what is valid. No ROS: messages are decoded with rosbags' typestore.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from rosbags.rosbag2 import Reader

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.robot import RobotSpec
from chatvla2.control.robot_state import RobotStateAssembler
from chatvla2.data import bag_topics as t
from chatvla2.data.bag_repair import find_mcap, scan_mcap
from chatvla2.data.bag_writer import TYPESTORE
from chatvla2.imaging.compressed import decode_compressed
from chatvla2.imaging.encoding import ImageFields, fields_to_array, to_rgb8

NS = 1e-9


@dataclass(frozen=True)
class BagProblem:
    topic: str
    time_s: float | None  # bag (log) time of the message, None for the whole topic or bag
    problem: str

    def __str__(self) -> str:
        when = "" if self.time_s is None else f" at t={self.time_s:.3f} s"
        return f"topic '{self.topic}'{when}: {self.problem}"


@dataclass(frozen=True)
class Frame:
    stamp_s: float     # header stamp (camera clock)
    log_time_s: float  # when the recorder received it
    image: np.ndarray  # (H, W, 3) uint8 RGB


@dataclass(frozen=True)
class JointSample:
    stamp_s: float
    log_time_s: float
    names: tuple[str, ...]
    positions: np.ndarray  # (J,)
    velocities: np.ndarray | None  # (J,) or None when not published


@dataclass(frozen=True)
class TextSample:
    log_time_s: float
    text: str


@dataclass(frozen=True)
class RecordedChunk:
    log_time_s: float
    chunk: ActionChunk  # stamp_s = the observation it answers


@dataclass(frozen=True)
class RecordedCommand:
    stamp_s: float
    log_time_s: float
    names: tuple[str, ...]
    positions: np.ndarray  # (A,) the last point of the command


@dataclass
class StackRecording:
    path: Path
    topics: dict[str, str] = field(default_factory=dict)  # topic -> message type
    frames: dict[str, list[Frame]] = field(default_factory=lambda: defaultdict(list))
    joint_states: list[JointSample] = field(default_factory=list)
    instructions: list[TextSample] = field(default_factory=list)
    reasoning: list[TextSample] = field(default_factory=list)
    chunks: list[RecordedChunk] = field(default_factory=list)
    commands: list[RecordedCommand] = field(default_factory=list)
    diagnostics: list[TextSample] = field(default_factory=list)
    problems: list[BagProblem] = field(default_factory=list)

    def problem(self, topic: str, time_s: float | None, text: str) -> None:
        self.problems.append(BagProblem(topic, time_s, text))


def _stamp_s(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * NS


def _raw_messages(path: Path, recording: StackRecording) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, log_time_ns, cdr) in log-time order; falls back to crash recovery."""
    try:
        with Reader(path) as reader:
            for connection in reader.connections:
                recording.topics[connection.topic] = connection.msgtype
            yield from ((c.topic, c.msgtype, ts, bytes(raw)) for c, ts, raw in reader.messages())
        return
    except Exception as error:  # rosbags raises several types for damaged bags
        if not recording.topics:
            reason = f"{type(error).__name__}: {error}"
        else:
            raise ValueError(f"bag '{path}' became unreadable part-way: {error}; "
                             f"run `chatvla2 bag-repair {path}`") from error
    recovered = scan_mcap(find_mcap(path))
    end_s = max((m.log_time_ns for m in recovered.messages), default=0) * NS
    recording.problem("(whole bag)", None,
                      f"bag was not closed cleanly ({reason}); recovered {len(recovered.messages)} "
                      f"messages up to t={end_s:.3f} s" + (f"; scan stopped: {recovered.damage}"
                                                          if recovered.damage else ""))
    recording.topics.update(recovered.topics)
    for message in sorted(recovered.messages, key=lambda m: m.log_time_ns):
        yield message.topic, message.msgtype, message.log_time_ns, message.cdr


EXPECTED_TYPES = {
    t.INSTRUCTION_TOPIC: t.STRING_TYPE,
    t.REASONING_TOPIC: t.STRING_TYPE, t.ACTION_CHUNK_TOPIC: t.TRAJECTORY_TYPE,
    t.DIAGNOSTICS_TOPIC: t.DIAGNOSTICS_TYPE,
}


class _Decoder:
    def __init__(self, recording: StackRecording, command_topic: str) -> None:
        self.recording, self.command_topic = recording, command_topic
        self.last_stamp: dict[str, float] = {}
        self.bad_topics: set[str] = set()

    def expected_type(self, topic: str) -> str | None:
        if t.camera_from_image_topic(topic):
            return t.COMPRESSED_IMAGE_TYPE if topic.endswith("/compressed") else t.IMAGE_TYPE
        if topic == self.command_topic:
            return t.TRAJECTORY_TYPE
        if t.is_joint_state_topic(topic):
            return t.JOINT_STATE_TYPE
        return EXPECTED_TYPES.get(topic)

    def stamp_in_order(self, topic: str, stamp_s: float, time_s: float) -> bool:
        previous = self.last_stamp.get(topic)
        if previous is not None and stamp_s <= previous:
            kind = "repeats" if stamp_s == previous else f"goes back {previous - stamp_s:.3f} s from"
            self.recording.problem(topic, time_s, f"header stamp {stamp_s:.6f} {kind} the previous "
                                   f"one; message skipped")
            return False
        self.last_stamp[topic] = stamp_s
        return True

    def decode(self, topic: str, msgtype: str, log_time_ns: int, cdr: bytes) -> None:
        expected = self.expected_type(topic)
        if expected is None or topic in self.bad_topics:
            return
        time_s = log_time_ns * NS
        if msgtype != expected:
            self.bad_topics.add(topic)
            known = "" if msgtype in TYPESTORE.types else " (unknown message type)"
            self.recording.problem(topic, time_s, f"has type '{msgtype}'{known}, expected "
                                   f"'{expected}'; topic skipped")
            return
        try:
            msg = TYPESTORE.deserialize_cdr(cdr, msgtype)
        except Exception as error:  # rosbags raises assorted errors for malformed CDR
            self.recording.problem(topic, time_s, f"message cannot be decoded ({error}); skipped")
            return
        try:
            self.store(topic, msg, time_s)
        except ValueError as error:
            self.recording.problem(topic, time_s, f"{error}; message skipped")

    def store(self, topic: str, msg, time_s: float) -> None:
        rec = self.recording
        camera = t.camera_from_image_topic(topic)
        if camera is not None:
            stamp_s = _stamp_s(msg.header)
            if topic.endswith("/compressed"):
                image = decode_compressed(bytes(msg.data), msg.format)
            else:
                fields = ImageFields(msg.height, msg.width, msg.encoding, bool(msg.is_bigendian),
                                     msg.step, bytes(msg.data))
                image = to_rgb8(fields_to_array(fields), msg.encoding)
            if self.stamp_in_order(topic, stamp_s, time_s):
                rec.frames[camera].append(Frame(stamp_s, time_s, image))
        elif t.is_joint_state_topic(topic):
            positions = np.asarray(msg.position, dtype=float)
            if len(msg.name) != len(positions):
                raise ValueError(f"{len(msg.name)} joint names but {len(positions)} positions")
            velocities = np.asarray(msg.velocity, dtype=float) if len(msg.velocity) == len(positions) else None
            if self.stamp_in_order(topic, _stamp_s(msg.header), time_s):  # all topics, in log order
                rec.joint_states.append(JointSample(_stamp_s(msg.header), time_s, tuple(msg.name),
                                                    positions, velocities))
        elif topic == t.INSTRUCTION_TOPIC:
            rec.instructions.append(TextSample(time_s, msg.data))
        elif topic == t.REASONING_TOPIC:
            rec.reasoning.append(TextSample(time_s, msg.data))
        elif topic == t.ACTION_CHUNK_TOPIC:
            chunk = _trajectory_chunk(msg)
            if self.stamp_in_order(topic, chunk.stamp_s, time_s):
                rec.chunks.append(RecordedChunk(time_s, chunk))
        elif topic == self.command_topic:
            chunk = _trajectory_chunk(msg)
            if self.stamp_in_order(topic, chunk.stamp_s, time_s):
                rec.commands.append(RecordedCommand(chunk.stamp_s, time_s, chunk.joint_names,
                                                    chunk.positions[-1]))
        elif topic == t.DIAGNOSTICS_TOPIC:
            text = "; ".join(f"{s.name}: {s.message}" for s in msg.status)
            rec.diagnostics.append(TextSample(time_s, text))


def _trajectory_chunk(msg) -> ActionChunk:
    """The rosbags twin of ros.conversions.trajectory_to_chunk (same rules, plain fields)."""
    if not msg.points:
        raise ValueError("trajectory has no points")
    width = len(msg.joint_names)
    if any(len(p.positions) != width for p in msg.points):
        raise ValueError(f"trajectory points do not all have {width} positions")
    times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * NS for p in msg.points])
    step = float(times[0])
    if step <= 0 or not np.allclose(np.diff(times), step, rtol=1e-3, atol=1e-6):
        raise ValueError("trajectory points must be evenly spaced with time_from_start > 0")
    positions = np.asarray([p.positions for p in msg.points], dtype=float)  # (H, A)
    return ActionChunk(tuple(msg.joint_names), positions, step, _stamp_s(msg.header))


def read_stack_bag(path: Path, command_topic: str = t.ARM_COMMAND_TOPIC) -> StackRecording:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag '{path}' does not exist")
    recording = StackRecording(path)
    decoder = _Decoder(recording, command_topic)
    for topic, msgtype, log_time_ns, cdr in _raw_messages(path, recording):
        decoder.decode(topic, msgtype, log_time_ns, cdr)
    for topic, msgtype in recording.topics.items():
        if decoder.expected_type(topic) is None and not topic.startswith("/cameras/"):
            recording.problem(topic, None, f"type '{msgtype}' is not a stack topic; ignored")
    required = {t.JOINT_STATES_TOPIC: recording.joint_states, t.INSTRUCTION_TOPIC: recording.instructions,
                t.ACTION_CHUNK_TOPIC: recording.chunks, command_topic: recording.commands}
    for topic, samples in required.items():
        if not samples and topic not in decoder.bad_topics:
            recording.problem(topic, None, "no valid messages in the bag (topic missing or empty)")
    if not recording.frames:
        recording.problem("/cameras/*/image_raw", None, "no valid camera frames in the bag")
    return recording


def with_robot_states(recording: StackRecording, robot: RobotSpec) -> StackRecording:
    """The recording with its joint states replaced by the robot's states (RobotSpec.command_names:
    arm joints + gripper opening), assembled from the vendor's messages by the same path the
    inference node and the controller use (chatvla2/control/robot_state.py). ValueError names
    the joints a bag never carries (e.g. a Franka bag without franka_ros2's finger joints)."""
    if not recording.joint_states:
        raise ValueError(f"bag '{recording.path}' has no joint states (no */joint_states topic)")
    assembler = RobotStateAssembler(robot)
    samples = []
    for sample in recording.joint_states:
        state = assembler.update(sample.names, sample.positions, sample.stamp_s, sample.velocities)
        if state is not None:
            samples.append(JointSample(state.stamp_s, sample.log_time_s, state.names, state.positions,
                                       state.velocities))
    if not samples:
        raise ValueError(f"bag '{recording.path}': no complete {robot.name} state; joints {assembler.missing} "
                         f"never appear on its */joint_states topics (the state needs {list(assembler.needed)})")
    # Several joint-state topics interleave in log order: line the states up by stamp, one per stamp.
    by_stamp = {sample.stamp_s: sample for sample in samples}
    return replace(recording, joint_states=[by_stamp[stamp] for stamp in sorted(by_stamp)])
