"""End-to-end latency over DDS: camera frame published -> action chunk received by the controller.

The inference node runs as its own process (the `inference_node` entry point, lifecycle autostart)
and this script plays camera (320x240 rgb8 at --rate-hz) and arm (joint states at 100 Hz) and
listens on /chatvla/action_chunk with the controller's QoS. Latency = arrival time - the chunk's
header.stamp, which is the stamp of the frame it answers (same clock, same machine). Run in the
same session for the baseline (the placeholder policy: transport and node overhead only) and the
tiny model (random weights, saved to a temporary checkpoint), async and sync.

    python benchmarks/dds_latency.py --seconds 20 [--torch-threads 1,2]

The node runs torch on 1 thread by default (its executor and DDS need a core too on small
machines); --torch-threads 1,2 measures the tiny model async at each count in the same run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def save_tiny_checkpoint(directory: Path) -> Path:
    import torch

    from chatvla2.model.chatvla2 import ChatVLA2Model

    torch.manual_seed(0)
    ChatVLA2Model.from_preset("tiny").save_pretrained(directory)
    return directory


def measure(policy: str, mode: str, seconds: float, rate_hz: float, log_dir: Path,
            torch_threads: int = 1) -> dict[str, float]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image, JointState
    from trajectory_msgs.msg import JointTrajectory

    from chatvla2.control.robot import load_robot_spec
    from chatvla2.ros.conversions import time_to_seconds
    from chatvla2.ros.image_conversion import array_to_image_msg
    from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS

    robot = load_robot_spec("franka_fr3")
    log = open(log_dir / f"inference_{mode}_{torch_threads}.log", "w")
    node_process = subprocess.Popen(
        [str(BIN / "inference_node"), "--ros-args", "-p", f"policy:={policy}", "-p", f"runtime_mode:={mode}",
         "-p", "max_observation_age_s:=1.0", "-p", f"torch_threads:={torch_threads}"],
        stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = rclpy.create_node("latency_probe", context=context)
    latencies_s: list[float] = []
    sent = 0

    def on_chunk(msg: JointTrajectory) -> None:
        latencies_s.append(probe.get_clock().now().nanoseconds * 1e-9 - time_to_seconds(msg.header.stamp))

    image_pub = probe.create_publisher(Image, "/cameras/front/image_raw", SENSOR_QOS)
    joint_pub = probe.create_publisher(JointState, "/joint_states", SENSOR_QOS)
    probe.create_subscription(JointTrajectory, "/chatvla/action_chunk", on_chunk, COMMAND_QOS)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    try:
        warm_until = time.monotonic() + 60.0
        start = None
        next_frame = next_joint = time.monotonic()
        while True:
            now = time.monotonic()
            if start is None and (latencies_s or now > warm_until):
                start, latencies_s[:], sent = now, [], 0  # first chunk seen: model loaded, start timing
            if start is not None and now - start > seconds:
                break
            if now >= next_joint:
                state = JointState(name=list(robot.command_names), position=list(robot.home_command))
                state.header.stamp = probe.get_clock().now().to_msg()
                joint_pub.publish(state)
                next_joint += 0.01
            if now >= next_frame:
                image_pub.publish(array_to_image_msg(frame, "rgb8", probe.get_clock().now().to_msg(), "front"))
                sent += 1
                next_frame += 1.0 / rate_hz
            # Sleep until the next publication is due: a busy probe would steal the model's CPU.
            executor.spin_once(timeout_sec=max(0.0, min(next_frame, next_joint) - time.monotonic()))
    finally:
        executor.shutdown()
        probe.destroy_node()
        rclpy.shutdown(context=context)
        node_process.terminate()
        node_process.wait(10)
        log.close()
    if not latencies_s:
        raise RuntimeError(f"no chunk arrived from policy {policy} ({mode}); see {log_dir}/inference_{mode}_{torch_threads}.log")
    ms = np.asarray(latencies_s) * 1e3
    return {"chunks_per_s": len(ms) / seconds, "frames_per_s": sent / seconds,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def torch_threads_label(n: int) -> str:
    return f"{n} torch thread{'s' * (n > 1)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per configuration")
    parser.add_argument("--rate-hz", type=float, default=30.0, help="camera frame rate")
    parser.add_argument("--torch-threads", default="1",
                        help="comma-separated torch thread counts for the tiny model, async (e.g. 1,2); "
                             "sync runs with the first")
    parser.add_argument("--results", default=str(RESULTS), help="markdown file to append to ('' = none)")
    args = parser.parse_args()
    os.environ["ROS_DOMAIN_ID"] = str(10 + os.getpid() % 90)  # clear of other stacks; below 102
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = save_tiny_checkpoint(Path(tmp) / "tiny")
        threads = [int(n) for n in args.torch_threads.split(",")]
        runs = [("placeholder (baseline: transport only)", "placeholder", "async", threads[0])]
        runs += [(f"tiny model, async, {torch_threads_label(n)}", str(checkpoint), "async", n) for n in threads]
        runs += [(f"tiny model, sync, {torch_threads_label(threads[0])}", str(checkpoint), "sync", threads[0])]
        rows = [(label, measure(policy, mode, args.seconds, args.rate_hz, Path(tmp), n))
                for label, policy, mode, n in runs]
    table = ["| policy | frames/s sent | chunks/s received | latency p50 (ms) | latency p99 (ms) |", "|---|---|---|---|---|"]
    table += [f"| {label} | {r['frames_per_s']:.1f} | {r['chunks_per_s']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
              for label, r in rows]
    print("\n".join(table))
    if args.results:
        heading = (f"\n## dds_latency ({os.uname().nodename}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
                   f"{time.strftime('%Y-%m-%d')}, `python benchmarks/dds_latency.py {' '.join(sys.argv[1:])}`)\n")
        with open(args.results, "a") as results:
            results.write(heading + "\n".join(table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
