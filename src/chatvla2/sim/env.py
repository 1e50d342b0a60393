"""MuJoCo task environment: the Franka-class arm at a table with the math or placement scene.

Actions are the stack's convention: (8,) = 7 absolute joint targets (rad) + gripper opening (m),
held for one control step. The environment never moves a joint target outside the robot's limits:
targets are clipped to the ranges from the robot description before they reach the servos.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from chatvla2.control.robot import RobotSpec
from chatvla2.policy.interface import Observation
from chatvla2.sim import scenes
from chatvla2.sim.tasks import task_of
from chatvla2.sim.franka_mjcf import arm_actuator_xml, arm_body_xml

ROBOT_BASE_POS_M = scenes.ROBOT_BASE_POS_M
ROBOT_BASE_YAW_RAD = np.pi / 2  # the arm reaches across the table from the right
FRONT_CAMERA_POS_M = np.array([-0.05, 0.0, 0.6])
FRONT_CAMERA_TARGET_M = np.array([0.6, 0.0, 0.1])
BOARD_POS_M = (0.8, 0.0, 0.28)


@dataclass(frozen=True)
class SimConfig:
    image_height_px: int = 224
    image_width_px: int = 224
    cameras: tuple[str, ...] = ("front", "wrist")
    control_dt_s: float = 0.1  # 10 Hz actions
    physics_dt_s: float = 0.002
    front_fovy_deg: float = 55.0
    wrist_fovy_deg: float = 70.0


def _look_at_xyaxes(pos: np.ndarray, target: np.ndarray) -> str:
    forward = (target - pos) / np.linalg.norm(target - pos)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return " ".join(f"{v:.5f}" for v in (*right, *up))


def front_camera_fraction(point_m, config: SimConfig = SimConfig()) -> tuple[float, float]:
    """Where a world point appears in the front camera's image: (row, column) as fractions of its
    height and width (0, 0 top left), by the pinhole model of the camera `world_xml` places."""
    forward = (FRONT_CAMERA_TARGET_M - FRONT_CAMERA_POS_M) / np.linalg.norm(FRONT_CAMERA_TARGET_M - FRONT_CAMERA_POS_M)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    offset = np.asarray(point_m, dtype=float) - FRONT_CAMERA_POS_M
    depth = float(offset @ forward)
    if depth <= 0:
        raise ValueError(f"point {list(point_m)} lies behind the front camera")
    focal = 0.5 / np.tan(np.radians(config.front_fovy_deg) / 2)  # in image heights
    aspect = config.image_width_px / config.image_height_px
    row = 0.5 - focal * float(offset @ up) / depth
    column = 0.5 + focal * float(offset @ right) / depth / aspect
    return row, column


def world_xml(robot: RobotSpec, scene, config: SimConfig) -> str:
    scene_assets, scene_bodies = scenes.scene_xml(scene)
    bx, by, bz = BOARD_POS_M
    look = scene.appearance  # the light and the front camera's pose (sim/appearance.py)
    diffuse, light_dir = look.light
    camera_pos = FRONT_CAMERA_POS_M + look.camera_offset_m
    camera_target = FRONT_CAMERA_TARGET_M + look.camera_target_offset_m
    return f"""
<mujoco model="chatvla2_{scene.task}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{config.physics_dt_s}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <visual><global offwidth="{max(640, config.image_width_px)}" offheight="{max(480, config.image_height_px)}"/>
    <quality shadowsize="0"/><headlight ambient="0.45 0.45 0.45" diffuse="0.5 0.5 0.5"/></visual>
  <asset>
    <material name="arm" rgba="0.92 0.92 0.94 1"/><material name="hand" rgba="0.25 0.25 0.28 1"/>
    <texture name="wood" type="2d" builtin="flat" rgb1="0.72 0.6 0.45" width="8" height="8"/>
    <material name="table" texture="wood" rgba="0.8 0.7 0.55 1"/>
    <texture name="board" type="2d" file="board.png"/><material name="board" texture="board"/>
    {scene_assets}
  </asset>
  <worldbody>
    <light pos="0.3 0 2.0" dir="{' '.join(f'{v:g}' for v in light_dir)}" diffuse="{diffuse:g} {diffuse:g} {diffuse:g}"/>
    <geom name="table" type="box" size="0.7 0.8 0.02" pos="0.4 0 -0.02" material="table"
          friction="1 0.05 0.001"/>
    <geom name="floor" type="plane" size="3 3 0.1" pos="0 0 -0.75" rgba="0.35 0.35 0.38 1"/>
    <body name="board" pos="{bx} {by} {bz}">
      <geom type="box" size="0.01 0.27 0.14" rgba="0.3 0.3 0.3 1"/>
      <geom type="box" size="0.0005 0.25 0.125" pos="-0.0106 0 0" material="board" contype="0" conaffinity="0"/>
    </body>
    <camera name="front" pos="{' '.join(f'{v:g}' for v in camera_pos)}" fovy="{config.front_fovy_deg}"
            xyaxes="{_look_at_xyaxes(camera_pos, camera_target)}"/>
    {arm_body_xml(robot, ROBOT_BASE_POS_M, ROBOT_BASE_YAW_RAD, config.wrist_fovy_deg)}
    {scene_bodies}
  </worldbody>
  <actuator>{arm_actuator_xml(robot)}</actuator>
</mujoco>"""


class TaskEnv:
    """One MuJoCo world; `reset(task, seed, split)` rebuilds it for a freshly sampled scene."""

    def __init__(self, robot: RobotSpec, config: SimConfig = SimConfig()) -> None:
        self.robot = robot
        self.config = config
        self.low = np.append(robot.position_min_rad, robot.gripper.width_min_m)
        self.high = np.append(robot.position_max_rad, robot.gripper.width_max_m)
        self.model = self.data = self.scene = self.renderer = None
        self.time_s = 0.0

    def reset(self, task: str, seed: int, split: str = "train"):
        self.scene = scenes.sample_scene(task, seed, split)
        self.model = mujoco.MjModel.from_xml_string(world_xml(self.robot, self.scene, self.config),
                                                    scenes.scene_assets(self.scene))
        self.data = mujoco.MjData(self.model)
        self.arm_qpos_adr = np.array([self.model.joint(n).qposadr[0] for n in self.robot.joint_names])
        self.arm_qvel_adr = np.array([self.model.joint(n).dofadr[0] for n in self.robot.joint_names])
        self.finger_qpos_adr = np.array([self.model.joint(f"finger_{s}").qposadr[0] for s in ("left", "right")])
        self.finger_qvel_adr = np.array([self.model.joint(f"finger_{s}").dofadr[0] for s in ("left", "right")])
        home = self.robot.home_command
        self.data.qpos[self.arm_qpos_adr] = home[:7]
        self.data.qpos[self.finger_qpos_adr] = home[7] / 2
        self._set_ctrl(home)
        mujoco.mj_forward(self.model, self.data)
        self.initial_body_pos = {name: self.body_pos(name) for name in self.object_names}
        self.close_renderer()
        self.renderer = mujoco.Renderer(self.model, self.config.image_height_px, self.config.image_width_px)
        self.time_s = 0.0
        self.step(home)  # let objects settle on the table
        self.time_s = 0.0
        return self.scene

    @property
    def object_names(self) -> list[str]:
        return task_of(self.scene).object_names(self.scene)

    def body_pos(self, name: str) -> np.ndarray:
        return self.data.body(name).xpos.copy()

    def _set_ctrl(self, target: np.ndarray) -> None:
        self.data.ctrl[:7] = target[:7]
        self.data.ctrl[7:9] = target[7] / 2

    def step(self, action: np.ndarray) -> None:
        """Hold `action` (8,) for one control step."""
        action = np.asarray(action, dtype=float)
        if action.shape != (8,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 8 finite values (7 joints + gripper m), got {action}")
        self._set_ctrl(np.clip(action, self.low, self.high))
        steps = int(round(self.config.control_dt_s / self.config.physics_dt_s))
        mujoco.mj_step(self.model, self.data, nstep=steps)
        self.time_s += self.config.control_dt_s

    def advance(self, duration_s: float) -> None:
        """Physics only, no new command: the ROS node's fine-grained clock."""
        mujoco.mj_step(self.model, self.data, nstep=max(1, int(round(duration_s / self.config.physics_dt_s))))
        self.time_s += duration_s

    def command(self, action: np.ndarray) -> None:
        action = np.asarray(action, dtype=float)
        if action.shape != (8,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 8 finite values (7 joints + gripper m), got {action}")
        self._set_ctrl(np.clip(action, self.low, self.high))

    def qpos(self) -> np.ndarray:
        """(8,) measured joints + gripper opening (m)."""
        q = self.data.qpos
        return np.append(q[self.arm_qpos_adr], q[self.finger_qpos_adr].sum()).astype(np.float32)

    def qvel(self) -> np.ndarray:
        v = self.data.qvel
        return np.append(v[self.arm_qvel_adr], v[self.finger_qvel_adr].sum()).astype(np.float32)

    def render(self, camera: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB from a named camera."""
        self.renderer.update_scene(self.data, camera=camera)
        return self.renderer.render().copy()

    def observation(self) -> Observation:
        return Observation(images={c: self.render(c) for c in self.config.cameras},
                           joint_names=self.robot.command_names,
                           joint_positions=self.qpos().astype(float),
                           instruction=self.scene.instruction, stamp_s=self.time_s)

    def outcome(self) -> tuple[bool, str]:
        """(success, reason) judged from the simulator's ground truth right now (the scene's task)."""
        return task_of(self.scene).outcome(self)

    def close_renderer(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
