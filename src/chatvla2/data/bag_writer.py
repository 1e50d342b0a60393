"""A rosbag2 MCAP writer that survives a crash of the process writing it.

rosbags' MCAP writer keeps up to 1 MiB of messages in memory and writes the summary and
metadata.yaml only on close. This writer closes the pending chunk and flushes it to the file at
least every `flush_period_s` (and on every `flush()`), so a `kill -9` loses at most that much:
everything before it sits in complete MCAP chunks that `chatvla2 bag-repair` (bag_repair.py)
turns back into a normal bag. A clean `close()` writes a normal bag with metadata.yaml that
`ros2 bag info` reads.

Built on rosbags 0.11.x (pinned in requirements.txt): `Writer.storage` is its MCAP storage,
whose `close_chunk()` we call early; that is the only private part we touch.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

# The message definitions the stack speaks (Kilted, the ROS 2 the stack runs on).
TYPESTORE = get_typestore(Stores.ROS2_KILTED)


class CrashSafeBagWriter:
    """Write serialized (CDR) messages by topic; connections are added on first use."""

    def __init__(self, path: Path, flush_period_s: float = 0.5) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag '{self.path}' exists already; choose a new output directory")
        self.flush_period_s = flush_period_s
        self.writer = Writer(self.path, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.connections: dict[str, object] = {}
        self.pending_messages = 0
        self.last_flush_s = time.monotonic()
        self.message_count = 0

    def add_topic(self, topic: str, msgtype: str) -> None:
        if topic in self.connections:
            return
        if msgtype not in TYPESTORE.types:
            raise ValueError(f"topic '{topic}': message type '{msgtype}' is not a known ROS 2 type")
        self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=TYPESTORE)

    def write(self, topic: str, msgtype: str, log_time_ns: int, cdr: bytes) -> None:
        self.add_topic(topic, msgtype)
        self.writer.write(self.connections[topic], log_time_ns, cdr)
        self.pending_messages += 1
        self.message_count += 1
        if time.monotonic() - self.last_flush_s >= self.flush_period_s:
            self.flush()

    def flush(self) -> None:
        """Put every message written so far into a complete chunk on disk."""
        storage = self.writer.storage
        if storage is None:
            return
        if self.pending_messages:
            storage.close_chunk()
            self.pending_messages = 0
        storage.bio.flush()
        os.fsync(storage.bio.fileno())
        self.last_flush_s = time.monotonic()

    def close(self) -> None:
        if self.writer.storage is not None:
            self.writer.close()

    def __enter__(self) -> "CrashSafeBagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
