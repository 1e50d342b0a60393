"""Two simulated stacks side by side under their own namespaces (sim.launch.xml namespace:=left
and namespace:=right, each node started as the launch file says): each arm follows its own chunks,
a stop in one namespace freezes only that arm, and no stack topic is left outside them."""
from __future__ import annotations

import re

import numpy as np
import pytest
import rclpy
from std_msgs.msg import Empty
from trajectory_msgs.msg import JointTrajectory

from chatvla2.ros.conversions import time_to_seconds
from chatvla2.ros.qos import COMMAND_QOS

from launch_xml import plan
from ros_testing import REPO, spin_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SHARED = {"/diagnostics", "/rosout", "/parameter_events", "/clock"}


def test_two_namespaced_stacks_do_not_see_each_other(rclpy_context, node_processes, monkeypatch):
    for namespace in ("left", "right"):
        launch = plan(REPO / "launch" / "sim.launch.xml", {"namespace": namespace})
        for name, value in launch.env.items():
            monkeypatch.setenv(name, value)
        for node in launch.nodes:
            node_processes.start(node["exec"], *node["ros_args"], name=f"{namespace}_{node['name']}")
    probe = rclpy.create_node("namespace_probe", context=rclpy_context)
    commands = {ns: [] for ns in ("left", "right")}
    chunks = {ns: [] for ns in ("left", "right")}
    for ns in commands:
        probe.create_subscription(JointTrajectory, f"/{ns}/fr3_arm_controller/joint_trajectory",
                                  lambda m, ns=ns: commands[ns].append((time_to_seconds(m.header.stamp),
                                                                        np.array(m.points[0].positions))),
                                  COMMAND_QOS)
        probe.create_subscription(JointTrajectory, f"/{ns}/chatvla/action_chunk", chunks[ns].append, COMMAND_QOS)
    logs = lambda: {n: node_processes.log(n)[-1500:] for n in node_processes.procs}  # noqa: E731
    assert spin_until(rclpy_context, probe, lambda: all(len(c) >= 3 for c in chunks.values())
                      and all(len(c) > 50 for c in commands.values()), 90.0), logs()

    def outside_topics() -> set[str]:
        return {t for t, _ in probe.get_topic_names_and_types()
                if t not in SHARED and not t.startswith(("/left/", "/right/"))}

    # rcl_lifecycle can show its transition_event briefly before the remap; what stays counts.
    first = outside_topics()
    spin_until(rclpy_context, probe, lambda: False, 1.0)
    outside = sorted(first & outside_topics())
    topics = {name for name, _ in probe.get_topic_names_and_types()}
    owners = {t: [(i.node_namespace, i.node_name) for i in probe.get_publishers_info_by_topic(t)] for t in outside}
    assert outside == [], f"stack topics outside the namespaces: {owners}"
    for ns in ("left", "right"):
        assert {f"/{ns}/joint_states", f"/{ns}/cameras/front/image_raw", f"/{ns}/chatvla/reasoning"} <= topics

    stop = probe.create_publisher(Empty, "/left/chatvla/stop", COMMAND_QOS)
    assert spin_until(rclpy_context, probe, lambda: stop.get_subscription_count() == 1, 10.0), \
        "exactly the left controller listens to /left/chatvla/stop"
    stop.publish(Empty())
    assert spin_until(rclpy_context, probe, lambda: "STOP (topic)" in node_processes.log("left_arm_controller"), 10.0)
    stopped_s = float(re.search(r"\[(\d+\.\d+)\] \[left\.arm_controller\]: STOP \(topic\)",
                                node_processes.log("left_arm_controller")).group(1))  # ROS time, as the stamps
    spin_until(rclpy_context, probe, lambda: False, 1.5)
    left = [p for t, p in commands["left"] if t > stopped_s + 0.011]  # from the next period on
    right = [p for t, p in commands["right"] if t > stopped_s + 0.011]
    assert left and all(np.array_equal(p, left[0]) for p in left), "the left arm did not freeze"
    assert right and np.ptp(np.stack(right), axis=0).max() > 1e-4, "the right arm stopped with the left"
    assert "STOP (topic)" in node_processes.log("left_arm_controller")
    assert "STOP" not in node_processes.log("right_arm_controller")
    print(f"\ntwo stacks: chunks left {len(chunks['left'])} / right {len(chunks['right'])}, "
          f"setpoints {len(commands['left'])} / {len(commands['right'])}; {len(topics)} topics, none outside")
    probe.destroy_node()
