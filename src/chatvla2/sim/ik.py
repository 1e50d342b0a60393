"""Inverse kinematics for the simulated arm: damped least squares on MuJoCo's site Jacobian.

Works on its own MjData copy (kinematics only), so solving never disturbs the physics state. The
result always lies inside the joint limits of the model.
"""
from __future__ import annotations

import mujoco
import numpy as np

# TCP orientation for top-down grasps: hand z points down, the finger axis (hand y) along world x,
# the thin axis of the cards, which stand facing the front camera.
TOP_DOWN_ROTATION = np.array([[0.0, 1.0, 0.0],
                              [1.0, 0.0, 0.0],
                              [0.0, 0.0, -1.0]])


class ArmIK:
    def __init__(self, model: mujoco.MjModel, joint_names, site: str = "tcp", damping: float = 0.05) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.site_id = model.site(site).id
        self.qpos_adr = np.array([model.joint(n).qposadr[0] for n in joint_names])
        self.dof_adr = np.array([model.joint(n).dofadr[0] for n in joint_names])
        self.low = model.jnt_range[[model.joint(n).id for n in joint_names], 0]
        self.high = model.jnt_range[[model.joint(n).id for n in joint_names], 1]
        self.damping = damping

    def tcp_pose(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position (3,), rotation (3, 3)) of the TCP at joint positions q (7,)."""
        self.data.qpos[self.qpos_adr] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)  # the Jacobian reads cdof, which mj_comPos fills
        return self.data.site_xpos[self.site_id].copy(), self.data.site_xmat[self.site_id].reshape(3, 3).copy()

    def solve(self, q_start: np.ndarray, target_pos_m: np.ndarray, target_rot: np.ndarray = TOP_DOWN_ROTATION,
              iterations: int = 100, tolerance_m: float = 1e-4) -> tuple[np.ndarray, float]:
        """Joint positions (7,) reaching the target pose from q_start, and the final position error (m)."""
        q = np.array(q_start, dtype=float)
        jac_pos, jac_rot = np.zeros((3, self.model.nv)), np.zeros((3, self.model.nv))
        error_m = np.inf
        for _ in range(iterations):
            pos, rot = self.tcp_pose(q)
            pos_error = target_pos_m - pos
            rot_error = 0.5 * sum(np.cross(rot[:, i], target_rot[:, i]) for i in range(3))
            error_m = float(np.linalg.norm(pos_error))
            if error_m < tolerance_m and np.linalg.norm(rot_error) < 1e-3:
                break
            mujoco.mj_jacSite(self.model, self.data, jac_pos, jac_rot, self.site_id)
            jac = np.vstack([jac_pos, jac_rot])[:, self.dof_adr]  # (6, 7)
            error = np.concatenate([pos_error, rot_error])  # (6,)
            step = jac.T @ np.linalg.solve(jac @ jac.T + self.damping ** 2 * np.eye(6), error)
            q = np.clip(q + np.clip(step, -0.2, 0.2), self.low, self.high)
        return q, error_m
