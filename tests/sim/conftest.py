"""A small-image MuJoCo task environment shared by the simulation tests."""
import pytest

from chatvla2.control.robot import load_robot_spec
from chatvla2.sim.env import SimConfig, TaskEnv


@pytest.fixture(scope="module")
def env():
    environment = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=96, image_width_px=96))
    yield environment
    environment.close_renderer()
