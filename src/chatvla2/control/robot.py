"""Robot descriptions: joint names, home pose, the manufacturer's limits, kinematics and the
workspace box, loaded from config/robots/<name>.yaml. Every number there names its source."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from chatvla2.control.kinematics import KinematicChain, chain_from_config
from chatvla2.paths import config_dir


@dataclass(frozen=True)
class GripperSpec:
    joint_name: str        # the state's and the action's last column: opening in metres
    width_min_m: float
    width_max_m: float
    force_max_n: float
    speed_max_m_s: float = 0.1
    # Joints the vendor publishes for the gripper, whose positions add up to the opening
    # (franka_ros2: the two finger joints); empty: the vendor publishes `joint_name` itself.
    state_joint_names: tuple[str, ...] = ()


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
    kinematics: KinematicChain | None = None
    workspace_min_m: np.ndarray | None = None  # (3,) end-effector box in the base frame
    workspace_max_m: np.ndarray | None = None  # (3,)

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
        gripper = GripperSpec(**{**raw["gripper"],
                                 "state_joint_names": tuple(raw["gripper"].get("state_joint_names", ()))})
        name = raw["name"]
        chain = chain_from_config(raw["kinematics"]) if "kinematics" in raw else None
        box = raw.get("workspace_box")
        box_min = None if box is None else np.asarray(box["min_m"], dtype=float)
        box_max = None if box is None else np.asarray(box["max_m"], dtype=float)
    except (KeyError, TypeError) as error:
        raise ValueError(f"robot description '{path}' is missing or mistypes a field: {error}") from None
    for key, values in arrays.items():
        if values.shape != (len(names),):
            raise ValueError(f"{path}: {key} has {values.size} values for {len(names)} joints")
    if np.any(arrays["position_min_rad"] >= arrays["position_max_rad"]):
        raise ValueError(f"{path}: position_min_rad must be below position_max_rad for every joint")
    for key in ("velocity_max_rad_s", "acceleration_max_rad_s2", "jerk_max_rad_s3"):
        if not np.all(arrays[key] > 0):
            raise ValueError(f"{path}: {key} must be positive for every joint")
    if chain is not None and chain.joint_count != len(names):
        raise ValueError(f"{path}: kinematics has {chain.joint_count} joints for {len(names)} names")
    if box is not None:
        if box_min.shape != (3,) or box_max.shape != (3,) or np.any(box_min >= box_max):
            raise ValueError(f"{path}: workspace_box needs min_m < max_m, three values each")
        if chain is None:
            raise ValueError(f"{path}: a workspace_box needs kinematics to check it")
        home_m = chain.end_effector_positions(arrays["home_positions_rad"][None])[0]
        if np.any(home_m < box_min) or np.any(home_m > box_max):
            raise ValueError(f"{path}: the home pose's end effector {home_m.round(3).tolist()} m "
                             "lies outside workspace_box")
    return RobotSpec(name=name, joint_names=names, gripper=gripper, kinematics=chain,
                     workspace_min_m=box_min, workspace_max_m=box_max, **arrays)
