"""Recover the messages of an MCAP bag whose writer died (kill -9, power loss, full disk).

Such a file has the MCAP header and complete chunks, perhaps a torn record at the end, and no
summary or footer; its bag directory has no metadata.yaml. `scan_mcap` walks the records from
the start and keeps everything up to the first damaged byte; `repair_bag` writes what it found to
a new, normal rosbag2 directory. Never modifies the damaged bag.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.rosbag2 import StoragePlugin, Writer

from chatvla2.data.bag_writer import TYPESTORE

MCAP_MAGIC = b"\x89MCAP0\r\n"
OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_FOOTER, OP_DATA_END = 0x03, 0x04, 0x05, 0x06, 0x02, 0x0F


@dataclass
class RecoveredMessage:
    topic: str
    msgtype: str
    log_time_ns: int
    cdr: bytes


@dataclass
class RecoveredBag:
    topics: dict[str, str] = field(default_factory=dict)  # topic -> message type
    messages: list[RecoveredMessage] = field(default_factory=list)
    damage: str | None = None  # where and why the scan stopped, None for an intact file


def _string(buf: bytes, at: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", buf, at)
    return buf[at + 4:at + 4 + size].decode(), at + 4 + size


def _decompress(compression: str, data: bytes, size: int) -> bytes:
    if compression == "":
        return data
    if compression == "zstd":
        try:
            from compression import zstd  # Python 3.14
        except ImportError:
            from backports import zstd
        return zstd.decompress(data)
    if compression == "lz4":
        import lz4.frame
        return lz4.frame.decompress(data)
    raise ValueError(f"unsupported MCAP chunk compression '{compression}'")


class _Scanner:
    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.channels: dict[int, tuple[str, str]] = {}
        self.bag = RecoveredBag()

    def records(self, buf: bytes, start: int, where: str) -> bool:
        """Walk the records in buf[start:]; False when a damaged record stopped the walk."""
        at = start
        while at < len(buf):
            if at + 9 > len(buf):
                self.bag.damage = f"{where}: record header torn at byte {at}"
                return False
            op, length = buf[at], struct.unpack_from("<Q", buf, at + 1)[0]
            body_at, end = at + 9, at + 9 + length
            if end > len(buf):
                self.bag.damage = f"{where}: record 0x{op:02x} at byte {at} is cut short"
                return False
            if op in (OP_FOOTER, OP_DATA_END):
                return True
            body = buf[body_at:end]
            try:
                if not self.record(op, body, f"{where}, byte {at}"):
                    return False
            except (struct.error, UnicodeDecodeError, ValueError) as error:
                self.bag.damage = f"{where}: record 0x{op:02x} at byte {at} is damaged ({error})"
                return False
            at = end
        return True

    def record(self, op: int, body: bytes, where: str) -> bool:
        if op == OP_SCHEMA:
            (schema_id,) = struct.unpack_from("<H", body, 0)
            self.schemas[schema_id], _ = _string(body, 2)
        elif op == OP_CHANNEL:
            channel_id, schema_id = struct.unpack_from("<HH", body, 0)
            topic, _ = _string(body, 4)
            msgtype = self.schemas.get(schema_id)
            if msgtype is None:
                raise ValueError(f"channel '{topic}' names unknown schema {schema_id}")
            self.channels[channel_id] = (topic, msgtype)
            self.bag.topics[topic] = msgtype
        elif op == OP_MESSAGE:
            channel_id, _sequence, log_time_ns = struct.unpack_from("<HIQ", body, 0)
            if channel_id not in self.channels:
                raise ValueError(f"message on unknown channel {channel_id}")
            topic, msgtype = self.channels[channel_id]
            self.bag.messages.append(RecoveredMessage(topic, msgtype, log_time_ns, body[22:]))
        elif op == OP_CHUNK:
            _start, _end, size, crc = struct.unpack_from("<QQQI", body, 0)
            compression, at = _string(body, 28)
            (compressed_size,) = struct.unpack_from("<Q", body, at)
            records = _decompress(compression, body[at + 8:at + 8 + compressed_size], size)
            if len(records) != size or (crc and zlib.crc32(records) != crc):
                raise ValueError("chunk size or CRC does not match its content")
            return self.records(records, 0, f"{where} (inside chunk)")
        return True


def scan_mcap(path: Path) -> RecoveredBag:
    """Every message of complete records in an MCAP file, in file order, and where damage began."""
    buf = Path(path).read_bytes()
    if not buf.startswith(MCAP_MAGIC):
        raise ValueError(f"'{path}' is not an MCAP file (bad magic bytes)")
    scanner = _Scanner()
    scanner.records(buf, len(MCAP_MAGIC), str(path))
    return scanner.bag


def find_mcap(bag: Path) -> Path:
    bag = Path(bag)
    if bag.is_file():
        return bag
    files = sorted(bag.glob("*.mcap"))
    if not files:
        raise FileNotFoundError(f"bag '{bag}' holds no .mcap file")
    return files[0]


def write_recovered(recovered: RecoveredBag, out: Path) -> list[str]:
    """Write the recovered messages, time-ordered, as a normal MCAP bag; returns skipped topics."""
    writer = Writer(out, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    connections, skipped = {}, []
    for topic, msgtype in recovered.topics.items():
        if msgtype in TYPESTORE.types:
            connections[topic] = writer.add_connection(topic, msgtype, typestore=TYPESTORE)
        else:
            skipped.append(f"topic '{topic}': unknown message type '{msgtype}', not copied")
    for message in sorted(recovered.messages, key=lambda m: m.log_time_ns):
        if message.topic in connections:
            writer.write(connections[message.topic], message.log_time_ns, message.cdr)
    writer.close()
    return skipped


def repair_bag(bag: Path, out: Path) -> tuple[RecoveredBag, list[str]]:
    if Path(out).exists():
        raise FileExistsError(f"output '{out}' exists already; choose a new directory")
    recovered = scan_mcap(find_mcap(bag))
    return recovered, write_recovered(recovered, Path(out))
