"""Controller period jitter at 100 Hz, against a baseline in the same run.

baseline:   an rclpy node whose 100 Hz timer does nothing (what rclpy + this machine give)
controller: the real ArmControllerNode (sim driver) driving sim_arm_node (a separate process)
            while a feeder process sends 10 chunks/s, exactly as in the stack
Jitter = |period - 10 ms| per tick. Also the core's compute time per tick (ArmController.tick).
Prints a table and appends it to benchmarks/RESULTS.md.

    python benchmarks/controller_jitter.py [--seconds 15]
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RATE_HZ = 100.0


def feeder() -> None:
    """10 chunks/s that sway joint 1 around the measured state (run as a subprocess)."""
    import rclpy
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from chatvla2.control.chunk import ActionChunk
    from chatvla2.ros.conversions import chunk_to_trajectory
    from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS

    rclpy.init()
    node = rclpy.create_node("jitter_feeder")
    state = {}
    node.create_subscription(JointState, "/joint_states", lambda m: state.update(msg=m), SENSOR_QOS)
    publisher = node.create_publisher(JointTrajectory, "/chatvla/action_chunk", COMMAND_QOS)

    def publish() -> None:
        if "msg" in state:
            msg, now_s = state["msg"], node.get_clock().now().nanoseconds * 1e-9
            rows = np.tile(np.asarray(msg.position), (16, 1))  # (H, A)
            rows[:, 0] += 0.05 * np.sin(now_s + 0.1 * np.arange(1, 17))
            publisher.publish(chunk_to_trajectory(ActionChunk(tuple(msg.name), rows, 0.1, now_s)))

    node.create_timer(0.1, publish)
    rclpy.spin(node)


def spin_for(node, seconds: float) -> None:
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    executor.remove_node(node)
    executor.shutdown()


def baseline_ticks(seconds: float) -> np.ndarray:
    import rclpy

    node = rclpy.create_node("jitter_baseline")
    ticks = []
    node.create_timer(1.0 / RATE_HZ, lambda: ticks.append(time.monotonic()))
    spin_for(node, seconds)
    node.destroy_node()
    return np.array(ticks)


def controller_ticks(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    from chatvla2.ros.arm_controller_node import ArmControllerNode

    class TimedController(ArmControllerNode):
        def on_tick(self) -> None:
            start = time.monotonic()
            self.ticks.append(start)
            super().on_tick()
            self.compute_s.append(time.monotonic() - start)

    from rclpy.parameter import Parameter
    node = TimedController(parameter_overrides=[Parameter("dry_run", value=False),
                                                Parameter("driver", value="sim")])
    node.ticks, node.compute_s = [], []
    spin_for(node, seconds)
    node.destroy_node()
    return np.array(node.ticks), np.array(node.compute_s)


def jitter_ms(ticks: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(ticks) - 1.0 / RATE_HZ) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--feeder", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.feeder:
        feeder()
        return 0
    import rclpy

    os.environ["ROS_DOMAIN_ID"] = "77"  # our own DDS domain: no other stack on this machine joins
    rclpy.init()
    bin_dir = Path(sys.executable).parent
    helpers = [subprocess.Popen([str(bin_dir / "sim_arm_node")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
               subprocess.Popen([sys.executable, __file__, "--feeder"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)]
    try:
        time.sleep(5.0)  # helpers imported and spinning: both measurements see the same load
        base = baseline_ticks(args.seconds)
        ticks, compute_s = controller_ticks(args.seconds)
    finally:
        for helper in helpers:
            helper.terminate()
            helper.wait()
        rclpy.try_shutdown()
    rows = [("period jitter p50 (ms)", np.percentile(jitter_ms(base), 50), np.percentile(jitter_ms(ticks), 50)),
            ("period jitter p99 (ms)", np.percentile(jitter_ms(base), 99), np.percentile(jitter_ms(ticks), 99)),
            ("achieved rate (Hz)", (len(base) - 1) / (base[-1] - base[0]), (len(ticks) - 1) / (ticks[-1] - ticks[0])),
            ("tick compute p50 (ms)", float("nan"), np.percentile(compute_s, 50) * 1e3),
            ("tick compute p99 (ms)", float("nan"), np.percentile(compute_s, 99) * 1e3)]
    machine = f"{platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    table = [f"\n## controller_jitter ({machine}, {datetime.date.today()}, "
             f"`python benchmarks/controller_jitter.py --seconds {args.seconds:g}`)",
             "| measure | baseline (empty 100 Hz rclpy timer) | arm controller (sim driver, 10 chunks/s) |",
             "|---|---|---|"]
    table += [f"| {name} | {b:.3f} | {c:.3f} |".replace("nan", "-") for name, b, c in rows]
    text = "\n".join(table)
    print(text)
    with open(REPO / "benchmarks" / "RESULTS.md", "a") as results:
        results.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
