"""Arm drivers as plug-ins: one module and one registration each.

A driver is a `DriverPlugin`: its name, the ROS parameters it reads (name -> (default,
description)) and a factory `make(node, robot, params) -> ArmDriver` (the interface in
chatvla2/control/drivers/base.py, gripper homing included). Plug-ins are found through the Python
entry-point group `chatvla2.drivers`, the ecosystem's registry, so a driver from another
distribution needs no change here; this package registers its own three in setup.py:

    [chatvla2.drivers]
    sim = chatvla2.ros.drivers.sim:PLUGIN
    franka_ros2 = chatvla2.ros.drivers.franka_ros2:PLUGIN
    arx_r5 = chatvla2.ros.drivers.arx_r5:PLUGIN

The controller's `driver` parameter names one; the controller declares that plug-in's parameters
only. A plug-in module imports its hardware libraries (franka_msgs, the ARX SDK) inside its
factory, so listing or loading plug-ins never needs them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from rclpy.node import Node

from chatvla2.control.drivers.base import ArmDriver
from chatvla2.control.robot import RobotSpec

ENTRY_POINT_GROUP = "chatvla2.drivers"


@dataclass(frozen=True)
class DriverPlugin:
    name: str
    make: Callable[[Node, RobotSpec, dict[str, Any]], ArmDriver]
    parameters: dict[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (default, description)
    description: str = ""


def available_drivers() -> dict[str, Any]:
    """Registered driver name -> its entry point (not loaded)."""
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def load_driver(name: str) -> DriverPlugin:
    """The plug-in registered as `name`; ValueError naming the registered ones otherwise."""
    registered = available_drivers()
    if name not in registered:
        raise ValueError(f"no arm driver '{name}' is registered (entry-point group '{ENTRY_POINT_GROUP}'); "
                         f"registered: {sorted(registered)}")
    plugin = registered[name].load()
    if not isinstance(plugin, DriverPlugin) or plugin.name != name:
        raise TypeError(f"entry point '{name}' in group '{ENTRY_POINT_GROUP}' must be a DriverPlugin "
                        f"named '{name}', got {plugin!r}")
    return plugin
