"""Forward kinematics of serial arms, vectorised over a batch of joint configurations.

A chain is, per joint, a fixed transform from the previous joint's frame followed by a rotation
about the joint's axis, then a fixed tool transform. Both conventions robot vendors publish map
onto it: Craig's modified Denavit-Hartenberg table (Franka) and URDF joint origins (ARX R5).
Used by the safety filter to keep the end effector inside a workspace box.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def translation(xyz_m) -> np.ndarray:
    transform = np.eye(4)
    transform[:3, 3] = xyz_m
    return transform


def rotation(axis, angle_rad: float) -> np.ndarray:
    """(4, 4) homogeneous rotation about a unit axis."""
    transform = np.eye(4)
    transform[:3, :3] = axis_rotations(np.asarray(axis, dtype=float), np.array([angle_rad]))[0]
    return transform


def axis_rotations(axis: np.ndarray, angles_rad: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: (N, 3, 3) rotations about one unit axis (3,) by angles (N,)."""
    k = skew(axis)
    sin, cos = np.sin(angles_rad)[:, None, None], np.cos(angles_rad)[:, None, None]
    return np.eye(3) + sin * k + (1.0 - cos) * (k @ k)  # (N, 3, 3)


def rpy_transform(xyz_m, rpy_rad) -> np.ndarray:
    """URDF <origin xyz rpy>: translate, then rotate by yaw * pitch * roll (fixed axes X, Y, Z)."""
    roll, pitch, yaw = rpy_rad
    return (translation(xyz_m) @ rotation((0, 0, 1), yaw) @ rotation((0, 1, 0), pitch)
            @ rotation((1, 0, 0), roll))


@dataclass(frozen=True)
class KinematicChain:
    origins: np.ndarray  # (J, 4, 4) previous joint frame -> this joint's frame at zero angle
    axes: np.ndarray     # (J, 3) unit rotation axis of each joint in its own frame
    tool: np.ndarray     # (4, 4) last joint frame -> end effector (tool centre point)

    @property
    def joint_count(self) -> int:
        return self.origins.shape[0]

    def __post_init__(self) -> None:
        # Rodrigues' terms per joint, computed once: the filter runs FK every control period.
        skews = np.stack([skew(axis) for axis in self.axes])  # (J, 3, 3)
        object.__setattr__(self, "_skews", skews)
        object.__setattr__(self, "_skews_squared", skews @ skews)

    def end_effector_positions(self, joint_positions_rad: np.ndarray) -> np.ndarray:
        """(N, J) joint angles -> (N, 3) end-effector positions in metres, base frame."""
        q = np.asarray(joint_positions_rad, dtype=float)
        if q.ndim != 2 or q.shape[1] != self.joint_count:
            raise ValueError(f"forward kinematics needs (N, {self.joint_count}) angles, got {q.shape}")
        sin, cos = np.sin(q)[:, :, None, None], 1.0 - np.cos(q)[:, :, None, None]  # (N, J, 1, 1)
        joint_rotations = np.eye(3) + sin * self._skews + cos * self._skews_squared  # (N, J, 3, 3)
        rotations = np.broadcast_to(np.eye(3), (q.shape[0], 3, 3))  # (N, 3, 3)
        positions = np.zeros((q.shape[0], 3))  # (N, 3)
        for j in range(self.joint_count):
            origin = self.origins[j]
            positions = positions + rotations @ origin[:3, 3]
            rotations = rotations @ origin[:3, :3] @ joint_rotations[:, j]
        return positions + rotations @ self.tool[:3, 3]  # (N, 3)


def skew(axis: np.ndarray) -> np.ndarray:
    """(3, 3) cross-product matrix of a (3,) vector."""
    return np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])


def chain_from_config(raw: dict) -> KinematicChain:
    """Build a chain from a robot YAML's `kinematics` section (see config/robots/*.yaml)."""
    convention = raw["convention"]
    tool = translation(raw.get("tool_xyz_m", [0.0, 0.0, 0.0]))
    if convention == "modified_dh":
        a_m, d_m, alpha_rad = (np.asarray(raw[key], dtype=float) for key in ("a_m", "d_m", "alpha_rad"))
        if not a_m.shape == d_m.shape == alpha_rad.shape:
            raise ValueError("kinematics: a_m, d_m and alpha_rad need one value per joint")
        # Craig: T_i = RotX(alpha_i) TransX(a_i) RotZ(theta_i) TransZ(d_i); RotZ and TransZ commute.
        origins = np.stack([rotation((1, 0, 0), alpha) @ translation((a, 0.0, d))
                            for a, d, alpha in zip(a_m, d_m, alpha_rad)])
        axes = np.tile([0.0, 0.0, 1.0], (len(a_m), 1))
    elif convention == "urdf":
        origins = np.stack([rpy_transform(joint["xyz_m"], joint["rpy_rad"]) for joint in raw["joints"]])
        axes = np.asarray([joint["axis"] for joint in raw["joints"]], dtype=float)
        axes = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    else:
        raise ValueError(f"kinematics: unknown convention '{convention}' (modified_dh or urdf)")
    return KinematicChain(origins=origins, axes=axes, tool=tool)
