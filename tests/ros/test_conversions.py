"""Chunk messages <-> ActionChunk: the size bounds a receiver checks before reading a chunk."""
import numpy as np
import pytest
from rclpy.serialization import serialize_message

from chatvla2.control.chunk import ActionChunk
from chatvla2.ros.conversions import (ChunkTooLong, chunk_to_trajectory, max_serialized_chunk_bytes,
                                      trajectory_to_chunk)

NAMES = tuple(f"fr3_joint{i}" for i in range(1, 8)) + ("fr3_finger_width",)


def chunk_message(points: int):
    return chunk_to_trajectory(ActionChunk(NAMES, np.zeros((points, len(NAMES))), 0.1, 12.5))


def test_a_chunk_within_the_bound_round_trips_and_one_point_more_is_refused():
    chunk = trajectory_to_chunk(chunk_message(64), max_points=64)
    assert chunk.positions.shape == (64, 8) and chunk.stamp_s == 12.5
    with pytest.raises(ChunkTooLong, match="65 points, more than max_chunk_points \\(64\\)"):
        trajectory_to_chunk(chunk_message(65), max_points=64)


def test_the_byte_bound_admits_every_legal_chunk_and_refuses_a_flood():
    limit = max_serialized_chunk_bytes(NAMES, 64)
    legal = chunk_message(64)
    for point in legal.points:  # the largest legal chunk: every optional array filled too
        point.velocities = point.accelerations = point.effort = [0.0] * len(NAMES)
    legal.header.frame_id = "f" * 256
    assert len(serialize_message(legal)) <= limit
    assert len(serialize_message(chunk_message(10_000))) > limit
    assert limit < 100_000, "the bound stays far below what freezes the loop (~1 MB: 60 ms to deserialize)"
