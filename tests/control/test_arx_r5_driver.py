"""The ARX R5 driver against a fake that has exactly the SingleArm methods it calls (names and
argument shapes from arx-r5-sdk 1.0.0's single_arm.py) and nothing else."""
import numpy as np
import pytest

from chatvla2.control.drivers.arx_r5 import ArxR5Driver, make_single_arm
from chatvla2.control.robot import load_robot_spec

ROBOT = load_robot_spec("arx_r5")


class FakeSingleArm:
    """Records calls; get_joint_positions returns 6 joints (rad) + the gripper motor reading."""

    def __init__(self, positions):
        self.positions = list(positions)
        self.calls = []

    def get_joint_positions(self, joint_names=None):
        return list(self.positions)

    def set_joint_positions(self, positions, **kwargs):
        self.calls.append(("set_joint_positions", list(positions)))

    def set_catch_pos(self, pos: float):
        self.calls.append(("set_catch_pos", pos))


def test_reading_maps_joints_and_converts_the_gripper_reading_to_metres():
    arm = FakeSingleArm([0.1, 0.2, 0.3, -0.1, 0.0, 0.5, 5.03 / 2])
    reading = ArxR5Driver(ROBOT, arm, clock=lambda: 12.5).read_joint_state()
    assert reading.names == ROBOT.command_names and reading.received_s == 12.5
    np.testing.assert_allclose(reading.positions, [0.1, 0.2, 0.3, -0.1, 0.0, 0.5, 0.044])


def test_setpoint_sends_six_joints_and_the_gripper_in_motor_units():
    arm = FakeSingleArm(np.zeros(7))
    driver = ArxR5Driver(ROBOT, arm)
    driver.send_setpoint(np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.088]), 0.01)
    assert arm.calls[0] == ("set_joint_positions", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert arm.calls[1][0] == "set_catch_pos" and arm.calls[1][1] == pytest.approx(5.03)
    driver.command_gripper(0.5, 10.0)  # beyond the stroke: clamped to fully open
    assert arm.calls[2][1] == pytest.approx(5.03)


def test_stop_holds_the_measured_joints_and_bad_input_is_refused():
    arm = FakeSingleArm([0.1, 0.2, 0.3, -0.1, 0.0, 0.5, 1.0])
    driver = ArxR5Driver(ROBOT, arm)
    driver.stop()
    assert arm.calls == [("set_joint_positions", [0.1, 0.2, 0.3, -0.1, 0.0, 0.5])]
    with pytest.raises(ValueError, match="7 finite values"):
        driver.send_setpoint(np.full(7, np.nan), 0.01)
    arm.positions = arm.positions[:6]
    with pytest.raises(ValueError, match="returned 6 values, expected 7"):
        driver.read_joint_state()
    with pytest.raises(ValueError, match="6-joint"):
        ArxR5Driver(load_robot_spec("franka_fr3"), arm)


def test_missing_sdk_gives_an_actionable_error():
    # The SDK's binary module is built for CPython 3.12 and needs a CAN bus: not installed here.
    with pytest.raises(ImportError, match="pip install arx-r5-sdk"):
        make_single_arm("can0", 1)


def test_connect_opens_the_sdk_arm_and_close_lets_it_go():
    opened = []
    driver = ArxR5Driver(ROBOT, None, open_arm=lambda: opened.append(FakeSingleArm(np.zeros(7))) or opened[-1])
    assert opened == [] and driver.read_joint_state() is None, "making the driver opened the CAN bus"
    driver.connect()
    assert len(opened) == 1 and driver.read_joint_state() is not None
    driver.close()
    assert driver.read_joint_state() is None
    driver.stop()  # nothing to hold once closed: no SDK call, no error
    with pytest.raises(RuntimeError, match="before connect"):
        driver.send_setpoint(np.zeros(7), 0.01)
    assert opened[0].calls == []
