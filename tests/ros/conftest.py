"""Fixtures for tests that speak real ROS 2: an isolated DDS domain, an rclpy context, processes."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time

import pytest

from arm_probe import stack_probe
from ros_testing import REPO, NodeProcesses


# Linux keeps domain ids below 102 clear of the ephemeral port range: 90 ids from 10. A run walks
# through them from a start drawn per process, so tests of one run never share a domain until 90
# later (a process that left something in a domain cannot reach a neighbour test); concurrent runs
# start apart by chance.
_DOMAIN_IDS = itertools.count((os.getpid() + int(time.monotonic() * 1000)) % 90)


@pytest.fixture
def ros_domain(monkeypatch):
    """A DDS domain of this test alone, so concurrent tests and stacks do not hear each other."""
    domain = str(10 + next(_DOMAIN_IDS) % 90)
    monkeypatch.setenv("ROS_DOMAIN_ID", domain)
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return domain


@pytest.fixture
def rclpy_context(ros_domain):
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(ros_domain))
    yield context
    rclpy.shutdown(context=context)


@pytest.fixture
def node_processes(tmp_path, ros_domain):
    processes = NodeProcesses(tmp_path)
    yield processes
    processes.stop_all()


@pytest.fixture(scope="session")
def franka_msgs_env():
    """Environment that makes the franka_msgs interface package (built from franka_ros2's
    definitions in tests/interfaces, cached in build/test_interfaces) importable."""
    result = subprocess.run([sys.executable, str(REPO / "tests" / "interfaces" / "build_interfaces.py")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def stack(rclpy_context, node_processes, ros_domain):
    """A running simulated arm + arm controller (config/sim.yaml) and the operator's probe on it."""
    probe = stack_probe(rclpy_context, node_processes, ros_domain)
    yield probe
    probe.node.destroy_node()
