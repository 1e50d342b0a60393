"""Robot descriptions: joint names, home pose and the manufacturer's limits, loaded from YAML."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from chatvla2.paths import config_dir


@dataclass(frozen=True)
class GripperSpec:
    joint_name: str
    width_min_m: float
    width_max_m: float
    force_max_n: float


@dataclass(frozen=True)
class RobotSpec:
    """One arm with a gripper. Arrays are (J,) over the arm joints (the gripper excluded)."""

    name: str
    joint_names: tuple[str, ...]
    home_positions_rad: np.ndarray
    position_min_rad: np.ndarray
    position_max_rad: np.ndarray
    velocity_max_rad_s: np.ndarray
    acceleration_max_rad_s2: np.ndarray
    jerk_max_rad_s3: np.ndarray
    gripper: GripperSpec

    @property
    def command_names(self) -> tuple[str, ...]:
        """Names of an action row: the arm joints, then the gripper opening."""
        return self.joint_names + (self.gripper.joint_name,)

    @property
    def home_command(self) -> np.ndarray:
        """(J + 1,) the home pose with the gripper open."""
        return np.append(self.home_positions_rad, self.gripper.width_max_m)


ARRAY_FIELDS = ("home_positions_rad", "position_min_rad", "position_max_rad", "velocity_max_rad_s",
                "acceleration_max_rad_s2", "jerk_max_rad_s3")


def load_robot_spec(path: str | Path) -> RobotSpec:
    """Load a robot description; a bare name like 'franka_fr3' means config/robots/<name>.yaml."""
    path = Path(path)
    if path.suffix != ".yaml" and not path.exists():
        path = config_dir() / "robots" / f"{path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"robot description '{path}' does not exist")
    raw = yaml.safe_load(path.read_text())
    try:
        names = tuple(raw["joint_names"])
        arrays = {key: np.asarray(raw[key], dtype=float) for key in ARRAY_FIELDS}
        gripper = GripperSpec(**raw["gripper"])
        name = raw["name"]
    except (KeyError, TypeError) as error:
        raise ValueError(f"robot description '{path}' is missing or mistypes a field: {error}") from None
    for key, values in arrays.items():
        if values.shape != (len(names),):
            raise ValueError(f"{path}: {key} has {values.size} values for {len(names)} joints")
    if np.any(arrays["position_min_rad"] >= arrays["position_max_rad"]):
        raise ValueError(f"{path}: position_min_rad must be below position_max_rad for every joint")
    return RobotSpec(name=name, joint_names=names, gripper=gripper, **arrays)
