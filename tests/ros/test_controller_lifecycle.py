"""The arm controller as a lifecycle node, driven as `ros2 lifecycle set /arm_controller ...` does
(lifecycle_msgs/srv/ChangeState): deactivate returns the running arm to dry run (it holds and
only ~/would_command moves), activate actuates again, cleanup frees the driver."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from trajectory_msgs.msg import JointTrajectory

from chatvla2.ros.qos import COMMAND_QOS

from arm_probe import stack_probe
from ros_testing import REPO, spin_until

pytestmark = pytest.mark.integration


def change_state(probe, transition: int) -> bool:
    client = probe.node.create_client(ChangeState, "/arm_controller/change_state")
    assert spin_until(probe.context, probe.node, client.service_is_ready, 10.0)
    future = client.call_async(ChangeState.Request(transition=Transition(id=transition)))
    assert spin_until(probe.context, probe.node, future.done, 10.0)
    return future.result().success


def state(probe) -> str:
    client = probe.node.create_client(GetState, "/arm_controller/get_state")
    assert spin_until(probe.context, probe.node, client.service_is_ready, 10.0)
    future = client.call_async(GetState.Request())
    assert spin_until(probe.context, probe.node, future.done, 10.0)
    return future.result().current_state.label


def test_deactivate_returns_to_dry_run_and_activate_actuates_again(rclpy_context, node_processes, ros_domain, tmp_path):
    probe = stack_probe(rclpy_context, node_processes, ros_domain)
    would = []
    probe.node.create_subscription(JointTrajectory, "/arm_controller/would_command",
                                   lambda m: would.append(time.monotonic()), COMMAND_QOS)
    source = subprocess.Popen([sys.executable, str(REPO / "tests" / "ros" / "chunk_source.py")],
                              stdout=open(tmp_path / "chunk_source.log", "w"), stderr=subprocess.STDOUT)
    node_processes.procs["chunk_source"] = source
    log = lambda: node_processes.log("arm_controller_node")  # noqa: E731
    assert state(probe) == "active", log()
    assert spin_until(probe.context, probe.node, lambda: probe.moved_since(time.monotonic() - 0.3) > 1e-4, 30.0), log()

    assert change_state(probe, Transition.TRANSITION_DEACTIVATE) and state(probe) == "inactive"
    done = time.monotonic()
    probe.spin(1.0)
    sent_after = [t for t, _ in probe.commands if t > done + 0.05]
    assert sent_after == [], f"{len(sent_after)} setpoints reached the arm after deactivate"
    assert len([t for t in would if t > done]) > 50, "dry run publishes what it would command"
    assert probe.moved_since(done + 0.2) < 1e-6, "the arm holds after deactivate"

    assert change_state(probe, Transition.TRANSITION_ACTIVATE) and state(probe) == "active", log()
    again = time.monotonic()
    assert spin_until(probe.context, probe.node, lambda: probe.moved_since(again) > 1e-4, 10.0), log()

    assert change_state(probe, Transition.TRANSITION_DEACTIVATE)
    assert change_state(probe, Transition.TRANSITION_CLEANUP) and state(probe) == "unconfigured"
    cleaned = time.monotonic()
    probe.spin(0.5)
    assert not [t for t in would if t > cleaned + 0.05], "an unconfigured controller runs no loop"
    assert change_state(probe, Transition.TRANSITION_CONFIGURE) and state(probe) == "inactive", log()
    assert "deactivated: DRY-RUN again" in log()
    probe.node.destroy_node()
