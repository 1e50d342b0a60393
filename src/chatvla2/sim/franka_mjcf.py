"""MJCF of a Franka-class arm built from primitive geoms (no meshes to download).

Kinematics follow Franka's published modified-DH (Craig) parameters for Panda/FR3; joint limits come
from the robot description YAML. Each link is one capsule from its joint to the next. The Franka Hand
is a box with two sliding finger pads; the gripper opening (metres) is the sum of the two slides.
Never invents limits: everything limit-like is read from the RobotSpec.
"""
from __future__ import annotations

import numpy as np

from chatvla2.control.robot import RobotSpec

# (a_m, d_m, alpha_rad) of joints 1..7 and the flange, Franka "Robot and interface specifications".
FRANKA_DH = (
    (0.0, 0.333, 0.0),
    (0.0, 0.0, -np.pi / 2),
    (0.0, 0.316, np.pi / 2),
    (0.0825, 0.0, np.pi / 2),
    (-0.0825, 0.384, -np.pi / 2),
    (0.0, 0.0, np.pi / 2),
    (0.088, 0.0, np.pi / 2),
)
FLANGE_D_M = 0.107
HAND_TCP_M = 0.1034  # flange to the point between the fingertips
LINK_RADIUS_M = (0.06, 0.06, 0.055, 0.055, 0.05, 0.045, 0.04)
ARM_KP = (4500.0, 4500.0, 3500.0, 3500.0, 2000.0, 2000.0, 2000.0)  # N m / rad, position servos
FINGER_KP = 800.0  # N / m: squeezes a card with a few newtons


def _fmt(values) -> str:
    return " ".join(f"{v:.6g}" for v in values)


def _dh_body_frame(a_m: float, d_m: float, alpha_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Pose of joint i's frame in joint i-1's frame: Rx(alpha) Dx(a) Rz(theta) Dz(d), theta=0."""
    pos = np.array([a_m, -np.sin(alpha_rad) * d_m, np.cos(alpha_rad) * d_m])
    quat = np.array([np.cos(alpha_rad / 2), np.sin(alpha_rad / 2), 0.0, 0.0])
    return pos, quat


def arm_body_xml(robot: RobotSpec, base_pos_m, base_yaw_rad: float, wrist_camera_fovy_deg: float) -> str:
    """The arm's kinematic tree as an MJCF <body> string, to go inside <worldbody>."""
    frames = [_dh_body_frame(*row) for row in FRANKA_DH] + [_dh_body_frame(0.0, FLANGE_D_M, 0.0)]
    base_quat = (np.cos(base_yaw_rad / 2), 0.0, 0.0, np.sin(base_yaw_rad / 2))
    xml = [f'<body name="base" pos="{_fmt(base_pos_m)}" quat="{_fmt(base_quat)}">',
           '<geom type="cylinder" size="0.07 0.05" pos="0 0 0.05" material="arm"/>']
    for i, name in enumerate(robot.joint_names):
        pos, quat = frames[i]
        low, high = robot.position_min_rad[i], robot.position_max_rad[i]
        child_pos = frames[i + 1][0]
        xml.append(f'<body name="link{i + 1}" pos="{_fmt(pos)}" quat="{_fmt(quat)}" gravcomp="1">')
        xml.append(f'<joint name="{name}" axis="0 0 1" range="{low:.5f} {high:.5f}" damping="30" '
                   f'armature="0.1"/>')
        if np.linalg.norm(child_pos) > 1e-6:
            xml.append(f'<geom type="capsule" fromto="0 0 0 {_fmt(child_pos)}" size="{LINK_RADIUS_M[i]}" '
                       f'material="arm" contype="0" conaffinity="0"/>')
        else:
            xml.append(f'<geom type="sphere" size="{LINK_RADIUS_M[i]}" material="arm" contype="0" '
                       f'conaffinity="0"/>')
    half_stroke = robot.gripper.width_max_m / 2
    xml.append(f'<body name="hand" pos="0 0 {FLANGE_D_M}" quat="{_fmt((np.cos(-np.pi / 8), 0, 0, np.sin(-np.pi / 8)))}" '
               'gravcomp="1">')
    xml.append('<geom type="box" size="0.02 0.1 0.03" pos="0 0 0.03" material="hand" contype="0" conaffinity="0"/>')
    xml.append(f'<site name="tcp" pos="0 0 {HAND_TCP_M}" size="0.005"/>')
    xml.append(f'<camera name="wrist" pos="0.06 0 0.03" xyaxes="0 1 0 1 0 0" fovy="{wrist_camera_fovy_deg}"/>')
    for side, sign in (("left", 1.0), ("right", -1.0)):
        xml.append(f'<body name="finger_{side}" pos="0 0 0.0584" gravcomp="1">')
        xml.append(f'<joint name="finger_{side}" type="slide" axis="0 {sign:g} 0" range="0 {half_stroke}" '
                   'damping="5" armature="0.01"/>')
        xml.append(f'<geom name="pad_{side}" type="box" size="0.011 0.006 0.025" pos="0 {sign * 0.006:g} 0.025" '
                   'material="hand" friction="2 0.05 0.001" condim="4" solref="0.005 1" solimp="0.95 0.99 0.001"/>')
        xml.append('</body>')
    xml.append('</body>')
    xml.extend('</body>' for _ in robot.joint_names)
    xml.append('</body>')
    return "\n".join(xml)


def arm_actuator_xml(robot: RobotSpec) -> str:
    rows = []
    for i, name in enumerate(robot.joint_names):
        kp = ARM_KP[i]
        rows.append(f'<position name="{name}" joint="{name}" kp="{kp}" kv="{kp / 20:g}" '
                    f'ctrlrange="{robot.position_min_rad[i]:.5f} {robot.position_max_rad[i]:.5f}"/>')
    half_stroke = robot.gripper.width_max_m / 2
    for side in ("left", "right"):
        rows.append(f'<position name="finger_{side}" joint="finger_{side}" kp="{FINGER_KP}" kv="20" '
                    f'ctrlrange="0 {half_stroke}" forcerange="-20 20"/>')
    return "\n".join(rows)
