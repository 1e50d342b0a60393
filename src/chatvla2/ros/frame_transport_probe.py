"""Camera-frame transport probe: do frames of a given size reach a reader in another process?

    python -m chatvla2.ros.frame_transport_probe sub --sizes 640x480,1280x720 --count 20 --seconds 20
    python -m chatvla2.ros.frame_transport_probe pub --sizes 640x480,1280x720 --count 20 --rate-hz 10

The publisher sends `count` rgb8 frames of each size on /cameras/front/image_raw at `rate_hz`,
with the inference node's camera QoS (best effort, depth 1), after the reader has matched; the
reader prints one JSON line: per size, frames received and the publish-to-receive latencies.
Fast DDS reads its profile from FASTDDS_DEFAULT_PROFILES_FILE, so the caller chooses the
transport settings per process (benchmarks/camera_transport.py, tests/ros/test_camera_transport.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from sensor_msgs.msg import Image

from chatvla2.ros.conversions import node_now_s, time_to_seconds
from chatvla2.ros.qos import SENSOR_QOS

TOPIC = "/cameras/front/image_raw"


def parse_sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in size.split("x")) for size in text.split(",")]


def publish(node, sizes, count: int, rate_hz: float) -> None:
    publisher = node.create_publisher(Image, TOPIC, SENSOR_QOS)
    deadline = time.monotonic() + 20.0
    while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # let the match settle on both sides
    for width, height in sizes:
        data = np.random.default_rng(0).integers(0, 256, height * width * 3, dtype=np.uint8).tobytes()
        for _ in range(count):
            msg = Image(height=height, width=width, encoding="rgb8", step=width * 3, data=data)
            msg.header.frame_id = f"{width}x{height}"
            msg.header.stamp = node.get_clock().now().to_msg()
            publisher.publish(msg)
            time.sleep(1.0 / rate_hz)
        time.sleep(0.5)


def subscribe(node, sizes, seconds: float) -> dict:
    latencies: dict[str, list[float]] = {f"{w}x{h}": [] for w, h in sizes}

    def on_image(msg: Image) -> None:
        if msg.header.frame_id in latencies:
            latencies[msg.header.frame_id].append(node_now_s(node) - time_to_seconds(msg.header.stamp))

    node.create_subscription(Image, TOPIC, on_image, SENSOR_QOS)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    return latencies


def measure(sizes: list[tuple[int, int]], profiles_file: str | Path | None, count: int = 20,
            rate_hz: float = 10.0, domain_id: int | None = None) -> dict[str, list[float]]:
    """Run a reader and a writer process with Fast DDS profile `profiles_file` (None: Fast DDS's
    defaults); returns per size the latencies (s) of the frames that arrived."""
    env = os.environ.copy()
    env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    if profiles_file is not None:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profiles_file)
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    text = ",".join(f"{w}x{h}" for w, h in sizes)
    listen_s = 8.0 + len(sizes) * (count / rate_hz + 0.5)
    command = [sys.executable, "-m", "chatvla2.ros.frame_transport_probe"]
    reader = subprocess.Popen(command + ["sub", "--sizes", text, "--seconds", str(listen_s)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = subprocess.run(command + ["pub", "--sizes", text, "--count", str(count), "--rate-hz", str(rate_hz)],
                            env=env, capture_output=True, text=True, timeout=listen_s + 60)
    out, err = reader.communicate(timeout=listen_s + 60)
    if reader.returncode != 0 or writer.returncode != 0:
        raise RuntimeError(f"frame transport probe failed: {err[-2000:]} {writer.stderr[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=("pub", "sub"))
    parser.add_argument("--sizes", default="640x480", help="WIDTHxHEIGHT,...")
    parser.add_argument("--count", type=int, default=20, help="frames per size")
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the reader listens")
    args = parser.parse_args()
    sizes = parse_sizes(args.sizes)
    rclpy.init()
    node = rclpy.create_node(f"frame_transport_{args.role}")
    try:
        if args.role == "pub":
            publish(node, sizes, args.count, args.rate_hz)
        else:
            print(json.dumps(subscribe(node, sizes, args.seconds)), flush=True)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
