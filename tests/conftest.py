"""Shared test set-up: offscreen MuJoCo, an isolated DDS domain per test session."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
