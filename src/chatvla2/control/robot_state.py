"""The one path from a vendor's joint-state messages to the robot's state.

The robot YAML's state is its arm joints then the gripper opening in metres
(`RobotSpec.command_names`). Vendors publish something else: franka_ros2 reports the Franka Hand
as two finger joints (`fr3_finger_joint1/2`, each finger's travel, on the gripper's own topic
that joint_state_publisher may merge into /joint_states), so the opening is their sum; the ARX R5
plug-in publishes the YAML's names directly. `RobotStateAssembler` turns any sequence of such
messages, from one topic or several, into complete robot states. The inference node, the
controller's drivers, the recorder's converters (bag2dataset) and replay all use it, so the model,
the gate and the dataset see the same numbers.

It never invents a value: until every arm joint and every gripper joint has been heard, no state
is produced. A state's stamp is the oldest of its arm joints' samples, so an age check on it is
never flattered by a fresh message that carried only some joints; the gripper's newest value rides
along (franka_gripper publishes at 15 Hz, its fake at 10 Hz, against the arm's 1 kHz: holding the
arm because the Hand's topic is slower would stop a healthy robot every few periods).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from chatvla2.control.robot import RobotSpec


@dataclass(frozen=True)
class RobotState:
    names: tuple[str, ...]          # RobotSpec.command_names
    positions: np.ndarray           # (J + 1,) rad, then the gripper opening in m
    velocities: np.ndarray | None   # (J + 1,) rad/s and m/s, None when a message carried none
    stamp_s: float                  # oldest stamp among the arm joints' samples


class RobotStateAssembler:
    """Newest value of every joint the robot's state needs, from any number of messages."""

    def __init__(self, robot: RobotSpec) -> None:
        self.robot = robot
        self.gripper_sources = robot.gripper.state_joint_names or (robot.gripper.joint_name,)
        self.needed = tuple(robot.joint_names) + tuple(self.gripper_sources)
        self.positions: dict[str, float] = {}
        self.velocities: dict[str, float] = {}
        self.stamps: dict[str, float] = {}

    @property
    def missing(self) -> list[str]:
        """Joints not heard yet (empty once a state can be made)."""
        return [name for name in self.needed if name not in self.positions]

    def update(self, names: Sequence[str], positions, stamp_s: float, velocities=None) -> RobotState | None:
        """Take one JointState's fields; return the robot state when complete, else None.

        Raises ValueError for a malformed message (length mismatch, repeated or non-finite
        values of a joint the state needs); joints the state does not need are ignored."""
        names = list(names)
        positions = np.asarray(positions, dtype=float)
        if positions.shape != (len(names),):
            raise ValueError(f"joint state has {len(names)} names but {positions.size} positions")
        has_velocity = velocities is not None and len(velocities) == len(names)
        velocity_values = np.asarray(velocities, dtype=float) if has_velocity else None
        used = [i for i, name in enumerate(names) if name in self.needed]
        repeated = sorted({names[i] for i in used if names.count(names[i]) > 1})
        if repeated:
            raise ValueError(f"joint state repeats joints {repeated}")
        bad = [names[i] for i in used if not np.isfinite(positions[i])]
        if bad:
            raise ValueError(f"joint state has non-finite positions for {bad}")
        for i in used:
            self.positions[names[i]] = float(positions[i])
            self.stamps[names[i]] = float(stamp_s)
            if velocity_values is not None:
                self.velocities[names[i]] = float(velocity_values[i])
            else:
                self.velocities.pop(names[i], None)
        return self.state() if used else None

    def state(self) -> RobotState | None:
        if self.missing:
            return None
        arm = [self.positions[name] for name in self.robot.joint_names]
        width = sum(self.positions[name] for name in self.gripper_sources)
        velocities = None
        if all(name in self.velocities for name in self.needed):
            velocities = np.array([self.velocities[name] for name in self.robot.joint_names]
                                  + [sum(self.velocities[name] for name in self.gripper_sources)])
        return RobotState(self.robot.command_names, np.array(arm + [width]), velocities,
                          min(self.stamps[name] for name in self.robot.joint_names))



def vendor_joint_state(robot: RobotSpec, values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The inverse, for simulators standing in for the vendor: a (J + 1,) state (or velocity) as
    the vendor's JointState names and values (the opening split evenly over the finger joints)."""
    values = np.asarray(values, dtype=float)
    fingers = robot.gripper.state_joint_names
    if not fingers:
        return list(robot.command_names), values
    return (list(robot.joint_names) + list(fingers),
            np.concatenate([values[:-1], np.full(len(fingers), values[-1] / len(fingers))]))
