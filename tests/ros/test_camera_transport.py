"""Camera frames above Fast DDS's 512 KiB shared-memory default reach a reader in another process
with the shipped transport profile (before it: 640x480 2-4 of 20, 1280x720 0-1 of 20)."""
import pytest

from chatvla2.ros.frame_transport_probe import measure

from ros_testing import REPO

pytestmark = pytest.mark.integration


def test_common_camera_sizes_arrive_at_the_camera_rate(ros_domain):
    sizes = [(640, 480), (1280, 720)]
    latencies = measure(sizes, REPO / "config" / "dds" / "fastdds_large_frames.xml", count=20, rate_hz=10.0)
    for width, height in sizes:
        got = latencies[f"{width}x{height}"]
        assert len(got) >= 19, f"{width}x{height}: {len(got)}/20 frames arrived"
        assert sorted(got)[len(got) // 2] < 0.1, f"{width}x{height}: median latency {sorted(got)[len(got) // 2]:.3f} s"
