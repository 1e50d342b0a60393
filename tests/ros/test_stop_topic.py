"""Stopping without a service call: a std_msgs/Empty on /chatvla/stop (what a joystick button or a
GUI publishes) freezes the arm from the next period, and with heartbeat_timeout_s set, an
operator heartbeat that stops arriving holds the arm within that timeout."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import numpy as np
import pytest
from std_msgs.msg import Empty

from chatvla2.ros.qos import COMMAND_QOS

from arm_probe import stack_probe
from ros_testing import REPO, spin_until

pytestmark = pytest.mark.integration


def start_chunk_source(node_processes, tmp_path) -> None:
    source = subprocess.Popen([sys.executable, str(REPO / "tests" / "ros" / "chunk_source.py")],
                              stdout=open(tmp_path / "chunk_source.log", "w"), stderr=subprocess.STDOUT)
    node_processes.procs["chunk_source"] = source


def moving(probe, seconds: float = 0.3) -> bool:
    return probe.moved_since(time.monotonic() - seconds) > 1e-4


def test_stop_topic_freezes_the_arm_from_the_next_period(rclpy_context, node_processes, ros_domain, tmp_path):
    probe = stack_probe(rclpy_context, node_processes, ros_domain)
    start_chunk_source(node_processes, tmp_path)
    stop = probe.node.create_publisher(Empty, "/chatvla/stop", COMMAND_QOS)
    assert spin_until(probe.context, probe.node, lambda: stop.get_subscription_count() > 0 and moving(probe), 30.0), \
        node_processes.log("arm_controller_node")
    sent = time.monotonic()
    stop.publish(Empty())
    probe.spin(0.5)
    after = [(t, p) for t, p in probe.commands if t >= sent]
    frozen_from = next(i for i in range(len(after)) if all(np.array_equal(after[i][1], p) for _, p in after[i:]))
    latency_s = after[frozen_from][0] - sent
    print(f"\nstop topic: frozen {latency_s * 1e3:.1f} ms after the publish ({frozen_from} setpoints moved after it)")
    assert latency_s <= 0.01 + 0.02, f"{latency_s:.3f} s: more than one period (10 ms) plus DDS delivery"
    assert "STOP (topic)" in node_processes.log("arm_controller_node")
    probe.node.destroy_node()


def test_missing_heartbeat_holds_the_arm_within_its_timeout(rclpy_context, node_processes, ros_domain, tmp_path):
    probe = stack_probe(rclpy_context, node_processes, ros_domain, "-p", "heartbeat_timeout_s:=0.3")
    start_chunk_source(node_processes, tmp_path)
    heartbeat = probe.node.create_publisher(Empty, "/chatvla/heartbeat", COMMAND_QOS)
    assert spin_until(probe.context, probe.node, lambda: heartbeat.get_subscription_count() > 0, 10.0)
    log = lambda: node_processes.log("arm_controller_node")  # noqa: E731
    last_beat_s, moving_since = 0.0, None
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:  # 20 Hz heartbeat: the arm follows the chunks
        heartbeat.publish(Empty())
        last_beat_s = probe.now_s()
        probe.spin(0.05)
        if moving_since is None and moving(probe, 0.2):
            moving_since = time.monotonic()
        if moving_since is not None and time.monotonic() - moving_since > 1.0:
            break
    assert moving(probe), log()
    assert "heartbeat lost" in log(), "before the first heartbeat the arm must hold"
    holds_before = log().count("HOLD: heartbeat lost")
    probe.spin(1.0)  # no more heartbeats
    assert log().count("HOLD: heartbeat lost") == holds_before + 1, log()
    line = [m for m in re.finditer(r"\[WARN\] \[(\d+\.\d+)\] \[arm_controller\]: HOLD: heartbeat lost", log())][-1]
    hold_after_s = float(line.group(1)) - last_beat_s
    print(f"\nheartbeat: held {hold_after_s * 1e3:.0f} ms after the last heartbeat (timeout 300 ms)")
    assert 0.3 - 0.02 <= hold_after_s <= 0.3 + 0.05, hold_after_s
    assert not moving(probe, 0.3), "the arm still moves without a heartbeat"
    probe.node.destroy_node()
