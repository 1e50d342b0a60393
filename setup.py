"""Packaging for pip (editable install in .venv) and for colcon (ament_python)."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "chatvla2"

# One console entry point per ROS node, plus the `chatvla2` command. Launch files reference the
# node names on the left; tests/test_launch_files.py checks that every one of them is declared here.
NODE_ENTRY_POINTS = {
    "camera_node": "chatvla2.ros.camera_node:main",
    "inference_node": "chatvla2.ros.inference_node:main",
    "arm_controller_node": "chatvla2.ros.arm_controller_node:main",
    "sim_arm_node": "chatvla2.ros.sim_arm_node:main",
    "recorder_node": "chatvla2.ros.recorder_node:main",
    "chunk_markers_node": "chatvla2.ros.chunk_markers_node:main",
}

setup(
    name=PACKAGE,
    version="0.1.0",
    description="ROS 2 control stack for a ChatVLA-2 style reasoning vision-language-action model",
    license="Apache-2.0",
    python_requires=">=3.11",
    package_dir={"": "src"},
    packages=find_packages("src"),
    include_package_data=True,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.xml")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/config/robots", glob("config/robots/*.yaml")),
        (f"share/{PACKAGE}/config/dds", glob("config/dds/*.xml")),
        (f"share/{PACKAGE}/config/cameras", glob("config/cameras/*.yaml")),
        (f"share/{PACKAGE}/config/rviz", glob("config/rviz/*.rviz")),
        (f"share/{PACKAGE}/config/train", glob("config/train/*.yaml")),
        (f"share/{PACKAGE}/models/chatvla2-tiny", [f for f in glob("models/chatvla2-tiny/*") if os.path.isfile(f)]),
        (f"share/{PACKAGE}/models/qwen2vl-tiny-base",
         [f for f in glob("models/qwen2vl-tiny-base/*") if os.path.isfile(f)]),
    ],
    zip_safe=False,
    entry_points={
        "console_scripts": [f"{PACKAGE} = chatvla2.cli:main"]
        + [f"{name} = {target}" for name, target in NODE_ENTRY_POINTS.items()],
        # Arm drivers as plug-ins (chatvla2/ros/drivers/__init__.py); other distributions add theirs.
        "chatvla2.drivers": [f"{name} = chatvla2.ros.drivers.{name}:PLUGIN" for name in ("sim", "franka_ros2", "arx_r5")],
    },
)
