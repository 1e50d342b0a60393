"""The MuJoCo arm driver renders from whichever thread asks (ROS executors call back from many)."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from chatvla2.control.robot import load_robot_spec
from chatvla2.sim.env import SimConfig
from chatvla2.sim.sim_arm import MujocoArm


def test_frames_render_from_any_thread_and_match():
    arm = MujocoArm(load_robot_spec("franka_fr3"), "math", seed=3, split="train",
                    config=SimConfig(image_height_px=64, image_width_px=64, cameras=("front",)))
    try:
        here = arm.render("front")
        with ThreadPoolExecutor(max_workers=3) as pool:
            elsewhere = list(pool.map(lambda _: arm.render("front"), range(6)))
        assert here.shape == (64, 64, 3) and here.dtype == np.uint8 and here.std() > 5
        for frame in elsewhere:
            np.testing.assert_array_equal(frame, here)
        success, reason = arm.outcome()
        assert not success and reason == "no card lifted"
    finally:
        arm.close()
