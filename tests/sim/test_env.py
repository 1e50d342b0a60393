"""The simulated arm and scenes: published kinematics, limits, rendering, success judgement."""
import numpy as np
import pytest

from chatvla2.control.robot import load_robot_spec
from chatvla2.sim.env import SimConfig, TaskEnv
from chatvla2.sim.franka_mjcf import FLANGE_D_M, FRANKA_DH, HAND_TCP_M

ROBOT = load_robot_spec("franka_fr3")


def dh_tcp_in_base(q):
    """Craig modified-DH forward kinematics, written independently of the MJCF builder."""
    transform = np.eye(4)
    rows = list(FRANKA_DH) + [(0.0, FLANGE_D_M + HAND_TCP_M, 0.0)]
    for i, (a, d, alpha) in enumerate(rows):
        theta = q[i] if i < 7 else 0.0
        ca, sa, ct, st = np.cos(alpha), np.sin(alpha), np.cos(theta), np.sin(theta)
        transform = transform @ np.array([[ct, -st, 0, a], [st * ca, ct * ca, -sa, -d * sa],
                                          [st * sa, ct * sa, ca, d * ca], [0, 0, 0, 1]])
    return transform[:3, 3]


def test_tcp_follows_published_franka_kinematics(env):
    env.reset("math", 0)
    base = env.data.body("base")
    rng = np.random.default_rng(0)
    for _ in range(5):
        q = rng.uniform(ROBOT.position_min_rad, ROBOT.position_max_rad)
        env.data.qpos[env.arm_qpos_adr] = q
        import mujoco
        mujoco.mj_kinematics(env.model, env.data)
        expected = base.xpos + base.xmat.reshape(3, 3) @ dh_tcp_in_base(q)
        np.testing.assert_allclose(env.data.site("tcp").xpos, expected, atol=1e-6)


def test_joint_ranges_are_the_robot_descriptions(env):
    env.reset("math", 0)
    for i, name in enumerate(ROBOT.joint_names):
        np.testing.assert_allclose(env.model.joint(name).range, [ROBOT.position_min_rad[i], ROBOT.position_max_rad[i]],
                                   atol=1e-5)
    env.step(np.append(ROBOT.position_max_rad + 1.0, 0.5))  # beyond every limit: clipped, not obeyed
    assert np.all(env.qpos()[:7] <= ROBOT.position_max_rad + 0.02)
    assert env.qpos()[7] <= ROBOT.gripper.width_max_m + 1e-3


def test_bad_action_is_rejected_with_a_clear_error(env):
    env.reset("math", 0)
    with pytest.raises(ValueError, match="8 finite values"):
        env.step(np.full(8, np.nan))
    with pytest.raises(ValueError, match="8 finite values"):
        env.step(np.zeros(7))


def test_cameras_render_configured_size_and_show_the_scene():
    env = TaskEnv(ROBOT, SimConfig(image_height_px=120, image_width_px=160))
    env.reset("math", 1)
    front, wrist = env.render("front"), env.render("wrist")
    assert front.shape == (120, 160, 3) and wrist.shape == (120, 160, 3) and front.dtype == np.uint8
    assert front.std() > 20 and not np.array_equal(front, wrist)
    env.close_renderer()


def project(env, point_m):
    """Pixel (u, v) of a world point in the front camera (pinhole, MuJoCo's fovy)."""
    cam = env.model.camera("front").id
    rotation = env.data.cam_xmat[cam].reshape(3, 3)
    x, y, z = rotation.T @ (np.asarray(point_m) - env.data.cam_xpos[cam])
    height, width = env.config.image_height_px, env.config.image_width_px
    focal_px = 0.5 * height / np.tan(np.deg2rad(env.model.cam_fovy[cam]) / 2)
    return width / 2 + focal_px * x / -z, height / 2 - focal_px * y / -z


def board_ink_profile(env, image):
    """Dark-pixel count per column across the whiteboard's writing area."""
    from chatvla2.sim.env import BOARD_POS_M

    bx, _, bz = BOARD_POS_M
    (u_left, v_middle), (u_right, _) = project(env, (bx, 0.25, bz)), project(env, (bx, -0.25, bz))
    _, v_top = project(env, (bx, 0.0, bz + 0.08))
    _, v_bottom = project(env, (bx, 0.0, bz - 0.08))
    board = image[int(v_top):int(v_bottom), int(u_left) + 1:int(u_right)].astype(int)
    return (board.max(axis=2) < 110).sum(axis=0).astype(float)


def test_board_equation_reads_left_to_right_not_mirrored():
    from chatvla2.sim.textures import text_image
    import cv2

    env = TaskEnv(ROBOT, SimConfig(image_height_px=224, image_width_px=224))
    scene = env.reset("math", 2)
    profile = board_ink_profile(env, env.render("front"))
    texture = text_image(f"{scene.equation.text} = ?", 512, 256)
    expected = (texture.max(axis=2) < 110).sum(axis=0).astype(float)
    expected = cv2.resize(expected[None], (profile.size, 1))[0]
    straight = np.corrcoef(profile, expected)[0, 1]
    mirrored = np.corrcoef(profile, expected[::-1])[0, 1]
    assert straight > 0.5 and straight > mirrored + 0.2, (straight, mirrored)
    env.close_renderer()


def test_untouched_scene_is_not_a_success(env):
    env.reset("math", 3)
    for _ in range(5):
        env.step(ROBOT.home_command)
    assert env.outcome() == (False, "no card lifted")
    env.reset("placement", 3)
    env.step(ROBOT.home_command)
    assert env.outcome() == (False, "toy not moved")
