"""Messages <-> the core's plain types: stamps, action chunks, joint states."""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration, Time
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from chatvla2.control.chunk import ActionChunk

NANOSECONDS = 1_000_000_000


def time_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec / NANOSECONDS


def duration_to_seconds(duration: Duration) -> float:
    return duration.sec + duration.nanosec / NANOSECONDS


def node_now_s(node: Node) -> float:
    """The node's clock (ROS time: wall, or /clock with use_sim_time) in seconds."""
    return node.get_clock().now().nanoseconds / NANOSECONDS


def seconds_to_time(seconds: float) -> Time:
    total = int(round(seconds * NANOSECONDS))
    return Time(sec=total // NANOSECONDS, nanosec=total % NANOSECONDS)


def seconds_to_duration(seconds: float) -> Duration:
    total = int(round(seconds * NANOSECONDS))
    return Duration(sec=total // NANOSECONDS, nanosec=total % NANOSECONDS)


def chunk_to_trajectory(chunk: ActionChunk) -> JointTrajectory:
    """One point per step, time_from_start = (k + 1) * step_dt_s; header.stamp = observation time."""
    msg = JointTrajectory()
    msg.header.stamp = seconds_to_time(chunk.stamp_s)
    msg.joint_names = list(chunk.joint_names)
    for k, row in enumerate(chunk.positions):
        msg.points.append(JointTrajectoryPoint(
            positions=row.astype(float).tolist(),
            time_from_start=seconds_to_duration((k + 1) * chunk.step_dt_s)))
    return msg


class ChunkTooLong(ValueError):
    """A chunk with more points than the receiver accepts."""


def max_serialized_chunk_bytes(joint_names: tuple[str, ...], max_points: int) -> int:
    """The largest serialized JointTrajectory that can hold a `max_points` chunk for these joints:
    every point with all four arrays full, the longest frame id we accept, names as given. A
    receiver refuses anything larger before deserializing it (a 50,000-point message takes ~0.4 s
    to deserialize in rclpy, which would freeze a 100 Hz loop)."""
    from rclpy.serialization import serialize_message

    width = len(joint_names)
    reference = JointTrajectory(joint_names=list(joint_names))
    reference.header.frame_id = "f" * 256
    full = [1.0] * width
    reference.points = [JointTrajectoryPoint(positions=full, velocities=full, accelerations=full, effort=full)
                        for _ in range(max_points)]
    return len(serialize_message(reference))


def trajectory_to_chunk(msg: JointTrajectory, max_points: int | None = None) -> ActionChunk:
    """Raises ValueError for a trajectory that is not a well-formed, evenly spaced chunk, or that
    has more than `max_points` points (checked before any point is read)."""
    if not msg.points:
        raise ValueError("action chunk has no points")
    if max_points is not None and len(msg.points) > max_points:
        raise ChunkTooLong(f"action chunk has {len(msg.points)} points, more than max_chunk_points ({max_points})")
    width = len(msg.joint_names)
    rows = []
    for k, point in enumerate(msg.points):
        if len(point.positions) != width:
            raise ValueError(f"point {k} has {len(point.positions)} positions for {width} joints")
        rows.append(point.positions)
    times = np.array([duration_to_seconds(p.time_from_start) for p in msg.points])
    step = times[0]
    if step <= 0 or not np.allclose(np.diff(times), step, rtol=1e-3, atol=1e-6):
        raise ValueError("action chunk points must be evenly spaced with time_from_start > 0")
    return ActionChunk(joint_names=tuple(msg.joint_names), positions=np.asarray(rows, dtype=float),
                       step_dt_s=float(step), stamp_s=time_to_seconds(msg.header.stamp))
