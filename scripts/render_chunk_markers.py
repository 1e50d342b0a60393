"""Render what the RViz markers show, over a simulated camera frame: the chunk's end-effector path
(forward kinematics of every row, the same function chunk_markers_node uses), the would-command
ghost (the arm controller's first setpoint for that chunk, computed by the controller core) and the
reasoning. Writes docs/images/chunk_markers.png.

    .venv/bin/python scripts/render_chunk_markers.py [--policy models/chatvla2-tiny] [--seed 100000]

The path is checked against MuJoCo before it is drawn: the forward kinematics of the measured
joints, placed at the simulated arm's base, must land on the simulator's own TCP site.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from chatvla2.control.controller import ArmController, ControllerConfig
from chatvla2.control.chunk import ActionChunk
from chatvla2.control.end_effector_path import end_effector_path_m
from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import load_robot_spec
from chatvla2.policy.loading import close_policy
from chatvla2.sim.commands import make_policy
from chatvla2.sim.env import ROBOT_BASE_POS_M, ROBOT_BASE_YAW_RAD, SimConfig, TaskEnv

REPO = Path(__file__).resolve().parents[1]
SCALE = 4  # the 224x224 frame (the shipped model's input size) drawn 4x larger, so the text is legible


def base_to_world(points_m: np.ndarray) -> np.ndarray:
    """(N, 3) robot-base points to the MuJoCo world (the sim places the base at ROBOT_BASE_POS_M, yawed)."""
    c, s = np.cos(ROBOT_BASE_YAW_RAD), np.sin(ROBOT_BASE_YAW_RAD)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return points_m @ rotation.T + np.asarray(ROBOT_BASE_POS_M)


def project(env: TaskEnv, camera: str, world_m: np.ndarray) -> np.ndarray:
    """(N, 2) pixel coordinates of world points in a MuJoCo camera (looks along -z, y up)."""
    cam = env.model.camera(camera).id
    position, rotation = env.data.cam_xpos[cam], env.data.cam_xmat[cam].reshape(3, 3)
    local = (world_m - position) @ rotation  # (N, 3) camera frame
    height, width = env.config.image_height_px, env.config.image_width_px
    focal = 0.5 * height / np.tan(np.deg2rad(env.model.cam_fovy[cam]) / 2)
    return np.stack([width / 2 + focal * local[:, 0] / -local[:, 2],
                     height / 2 - focal * local[:, 1] / -local[:, 2]], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policy", default=str(REPO / "models" / "chatvla2-tiny"))
    parser.add_argument("--seed", type=int, default=100000)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "chunk_markers.png")
    args = parser.parse_args()
    robot = load_robot_spec("franka_fr3")
    env = TaskEnv(robot, SimConfig(image_height_px=224, image_width_px=224))
    env.reset("math", args.seed, "heldout")
    observation = env.observation()
    policy = make_policy(args.policy, env, robot, "sync")
    try:
        output = policy.infer(observation)
    finally:
        close_policy(policy)
    state = columns_by_name(observation.joint_names, observation.joint_positions, robot.command_names, "state")
    tcp_m = base_to_world(end_effector_path_m(robot, robot.command_names, state[None]))[0]
    simulated_tcp_m = env.data.site("tcp").xpos
    if np.max(np.abs(tcp_m - simulated_tcp_m)) > 1e-6:
        raise SystemExit(f"forward kinematics {tcp_m} is not the simulator's TCP {simulated_tcp_m}: frames disagree")

    path_m = end_effector_path_m(robot, output.joint_names, output.actions)  # (H, 3) base frame
    controller = ArmController(robot, ControllerConfig())
    controller.on_joint_state(list(robot.command_names), state, observation.stamp_s)
    controller.tick(observation.stamp_s)
    rejection = controller.on_chunk(ActionChunk(output.joint_names, np.asarray(output.actions), output.step_dt_s,
                                                observation.stamp_s), observation.stamp_s)
    would = controller.tick(observation.stamp_s + controller.config.control_period_s).command
    ghost_m = end_effector_path_m(robot, robot.command_names, would[None])[0]

    frame = np.ascontiguousarray(observation.images["front"][..., ::-1])  # BGR for OpenCV
    frame = cv2.resize(frame, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
    pixels = (project(env, "front", base_to_world(path_m)) * SCALE).round().astype(int)
    cv2.polylines(frame, [pixels.reshape(-1, 1, 2)], False, (60, 220, 60), 2, cv2.LINE_AA)
    for u, v in pixels:
        cv2.circle(frame, (int(u), int(v)), 4, (60, 220, 60), -1, cv2.LINE_AA)
    gu, gv = (project(env, "front", base_to_world(ghost_m[None]))[0] * SCALE).round().astype(int)
    overlay = frame.copy()
    cv2.circle(overlay, (int(gu), int(gv)), 14, (30, 150, 255), -1, cv2.LINE_AA)
    frame = cv2.addWeighted(overlay, 0.5, frame, 0.5, 0)
    visible = 0 <= gu < frame.shape[1] and 0 <= gv < frame.shape[0]
    lines = [f"reasoning: {output.reasoning}", f"instruction: {observation.instruction}",
             "green: chunk end-effector path (FK of 16 rows)   orange: would-command ghost"
             + ("" if visible else " (now above the frame, at the gripper)")
             + (f"   (gate: {rejection})" if rejection else "")]
    panel = np.full((22 * len(lines) + 12, frame.shape[1], 3), 30, dtype=np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(panel, text[:150], (8, 24 + 22 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (240, 240, 240), 1, cv2.LINE_AA)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.vstack([frame, panel]))
    print(f"wrote {args.out}: path from {path_m[0].round(3).tolist()} to {path_m[-1].round(3).tolist()} m (base frame); "
          f"reasoning: {output.reasoning!r}")


if __name__ == "__main__":
    main()
