"""The crash-safe writer and the recovery of bags whose writer died."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rosbags.rosbag2 import Reader

from chatvla2.data.bag_reader import read_stack_bag
from chatvla2.data.bag_repair import repair_bag, scan_mcap
from chatvla2.data.bag_writer import TYPESTORE, CrashSafeBagWriter

STRING = TYPESTORE.types["std_msgs/msg/String"]


def cdr(text: str) -> bytes:
    return TYPESTORE.serialize_cdr(STRING(data=text), "std_msgs/msg/String")


def abandoned_bag(tmp_path: Path, batches: int, per_batch: int = 10) -> Path:
    """Write `batches` flushed batches and one unflushed one, then copy the files as a crash leaves them."""
    writer = CrashSafeBagWriter(tmp_path / "live", flush_period_s=3600.0)
    for b in range(batches + 1):
        for i in range(per_batch):
            writer.write("/chatvla/reasoning", "std_msgs/msg/String", (b * per_batch + i + 1) * 1000, cdr(f"{b}:{i}"))
        if b < batches:
            writer.flush()
    crashed = tmp_path / "crashed"
    shutil.copytree(writer.path, crashed)  # what is on disk now: no footer, no metadata.yaml
    writer.close()
    return crashed


def test_clean_close_is_a_normal_bag(tmp_path):
    with CrashSafeBagWriter(tmp_path / "bag", flush_period_s=0.0) as writer:
        for i in range(25):
            writer.write("/chatvla/reasoning", "std_msgs/msg/String", 1000 + i, cdr(str(i)))
    with Reader(tmp_path / "bag") as reader:
        texts = [TYPESTORE.deserialize_cdr(raw, c.msgtype).data for c, _, raw in reader.messages()]
    assert texts == [str(i) for i in range(25)]
    assert "message_count: 25" in (tmp_path / "bag" / "metadata.yaml").read_text()


def test_an_abandoned_bag_keeps_every_flushed_message(tmp_path):
    crashed = abandoned_bag(tmp_path, batches=3)
    assert not (crashed / "metadata.yaml").exists()
    recovered = scan_mcap(next(crashed.glob("*.mcap")))
    assert [m.log_time_ns for m in recovered.messages] == [(i + 1) * 1000 for i in range(30)]
    recording = read_stack_bag(crashed)
    assert len(recording.reasoning) == 30 and "not closed cleanly" in str(recording.problems[0])


def test_a_torn_last_chunk_is_cut_off_cleanly(tmp_path):
    crashed = abandoned_bag(tmp_path, batches=2)
    mcap = next(crashed.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[:-250])  # past its message index, into the last chunk
    recovered = scan_mcap(mcap)
    assert len(recovered.messages) == 10 and "record 0x06" in recovered.damage and "cut short" in recovered.damage


def test_bag_repair_command_writes_a_bag_rosbags_reads(tmp_path):
    crashed = abandoned_bag(tmp_path, batches=2)
    out = tmp_path / "repaired"
    result = subprocess.run([sys.executable, "-m", "chatvla2.cli", "bag-repair", str(crashed), "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "recovered 20 messages" in result.stdout
    with Reader(out) as reader:
        assert reader.message_count == 20
        assert [c.topic for c in reader.connections] == ["/chatvla/reasoning"]
    with pytest.raises(FileExistsError):
        repair_bag(crashed, out)
