"""The MuJoCo arm as a driver: a task scene stepped in fine time slices, following a joint trajectory,
reporting joint states and camera frames. The ROS sim arm node is a thin shell around this class.

An EGL/OSMesa context is current in the thread that made it only, and a multi-threaded ROS
executor calls back from any of its threads, so the renderer lives on one thread of its own: the
scene is built and every frame rendered there, whoever asks.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec
from chatvla2.sim.env import SimConfig, TaskEnv
from chatvla2.sim.trajectory import TrajectoryFollower


class MujocoArm:
    def __init__(self, robot: RobotSpec, task: str = "math", seed: int = 0, split: str = "train",
                 config: SimConfig = SimConfig()) -> None:
        self._gl_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mujoco-gl")
        self.env = TaskEnv(robot, config)
        self.scene = self._gl_thread.submit(self.env.reset, task, seed, split).result()
        self.follower = TrajectoryFollower(self.env.qpos().astype(float))
        self.names = robot.command_names

    @property
    def time_s(self) -> float:
        return self.env.time_s

    def follow(self, joint_names, start_s: float, times_from_start_s, points) -> None:
        """Follow points (P, len(joint_names)) given in any joint order; they must name every joint."""
        points = columns_by_name(joint_names, np.asarray(points, dtype=float), self.names, "trajectory", exact=True)
        self.follower.set_trajectory(self.follower.target(self.time_s), start_s, times_from_start_s, points)

    def advance(self, duration_s: float) -> None:
        self.env.command(self.follower.target(self.time_s + duration_s))
        self.env.advance(duration_s)

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions (8,), velocities (8,)) ordered as the robot's command names."""
        return self.env.qpos().astype(float), self.env.qvel().astype(float)

    def render(self, camera: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB, rendered on the arm's GL thread."""
        return self._gl_thread.submit(self.env.render, camera).result()

    def outcome(self) -> tuple[bool, str]:
        """(success, reason) of the task right now, from the simulator's ground truth."""
        return self.env.outcome()

    def close(self) -> None:
        """Free the renderer (on its own thread) and stop that thread."""
        self._gl_thread.submit(self.env.close_renderer).result()
        self._gl_thread.shutdown()

    def camera_matrix(self, camera: str) -> np.ndarray:
        """(3, 3) pinhole intrinsics of a simulated camera (square pixels, centred principal point)."""
        model = self.env.model
        fovy_rad = np.deg2rad(model.cam_fovy[model.camera(camera).id])
        height, width = self.env.config.image_height_px, self.env.config.image_width_px
        focal_px = 0.5 * height / np.tan(fovy_rad / 2)
        return np.array([[focal_px, 0.0, width / 2], [0.0, focal_px, height / 2], [0.0, 0.0, 1.0]])
