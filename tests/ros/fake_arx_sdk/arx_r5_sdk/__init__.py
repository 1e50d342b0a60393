"""Test double of ARX's `arx-r5-sdk` (1.0.0, PyPI sdist; CPython 3.12 + CAN bus, neither here):
the `SingleArm` class with the calls the chatvla2 driver makes, with the SDK's signatures and
units: SingleArm(config) with config keys can_port, type, num_joints; get_joint_positions() -> 6
joint angles (rad) then the gripper motor reading (0 closed .. 5.03 open); set_joint_positions(6
rad); set_catch_pos(gripper motor reading); protect_mode(). The arm reaches each setpoint at
once. Every call is appended as one JSON line to $FAKE_ARX_SDK_LOG (with a CLOCK_MONOTONIC time)."""
import json
import os
import threading
import time

HOME_RAD = [0.0, 0.3, 0.5, -0.3, 0.0, 0.0]
GRIPPER_OPEN_READOUT = 5.03


class SingleArm:
    def __init__(self, config: dict) -> None:
        missing = {"can_port", "type", "num_joints"} - set(config)
        if missing:
            raise KeyError(f"SingleArm config lacks {sorted(missing)}")
        self.config = dict(config)
        self.joints = list(HOME_RAD)
        self.gripper = GRIPPER_OPEN_READOUT
        self.lock = threading.Lock()
        self.log = open(os.environ["FAKE_ARX_SDK_LOG"], "a", buffering=1) if os.environ.get("FAKE_ARX_SDK_LOG") else None
        self.record("SingleArm", config=self.config)

    def record(self, call: str, **fields) -> None:
        if self.log is not None:
            self.log.write(json.dumps({"t": time.monotonic(), "call": call, **fields}) + "\n")

    def get_joint_positions(self, joint_names=None):
        with self.lock:
            return list(self.joints) + [self.gripper]

    def set_joint_positions(self, positions, **kwargs) -> None:
        positions = [float(p) for p in positions]
        if len(positions) != 6:
            raise ValueError(f"set_joint_positions takes 6 values, got {len(positions)}")
        with self.lock:
            self.joints = positions
        self.record("set_joint_positions", args=positions)

    def set_catch_pos(self, pos: float) -> None:
        with self.lock:
            self.gripper = float(pos)
        self.record("set_catch_pos", args=float(pos))

    def protect_mode(self) -> None:
        self.record("protect_mode")
