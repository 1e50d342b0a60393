"""Where a chunk takes the end effector: forward kinematics of every row, from the robot YAML's
kinematics. The RViz markers (ros/chunk_markers_node.py) and the rendered marker image
(scripts/render_chunk_markers.py) both draw these points."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec


def end_effector_path_m(robot: RobotSpec, names: Sequence[str], rows: np.ndarray) -> np.ndarray:
    """(H, 3) end-effector positions (m, robot base frame) of rows (H, A) whose columns are `names`."""
    if robot.kinematics is None:
        raise ValueError(f"robot {robot.name} has no kinematics in its YAML: no end-effector path")
    arm = columns_by_name(names, np.asarray(rows, dtype=float), robot.joint_names, "chunk")  # (H, J)
    return robot.kinematics.end_effector_positions(arm)
