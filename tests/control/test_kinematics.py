import numpy as np
import pytest

from chatvla2.control.kinematics import chain_from_config
from chatvla2.control.robot import load_robot_spec


def test_franka_dh_matches_the_published_zero_and_ready_poses():
    chain = load_robot_spec("franka_fr3").kinematics
    zero, ready = chain.end_effector_positions(np.array([
        np.zeros(7), [0.0, -np.pi / 4, 0.0, -3 * np.pi / 4, 0.0, np.pi / 2, np.pi / 4]]))
    # Flange at zero: x = a7 = 0.088, z = 0.333 + 0.316 + 0.384 - 0.107; the hand adds 0.1034 down.
    np.testing.assert_allclose(zero, [0.088, 0.0, 0.333 + 0.316 + 0.384 - 0.107 - 0.1034], atol=1e-9)
    np.testing.assert_allclose(ready, [0.3069, 0.0, 0.4867], atol=2e-3)


def test_joint1_turns_the_end_effector_about_the_base_z_axis():
    chain = load_robot_spec("arx_r5").kinematics
    q = np.array([[0.0, 0.4, 0.6, -0.2, 0.1, 0.0], [np.pi / 2, 0.4, 0.6, -0.2, 0.1, 0.0]])
    a, b = chain.end_effector_positions(q)
    np.testing.assert_allclose([b[0], b[1], b[2]], [-a[1], a[0], a[2]], atol=1e-9)


def test_unknown_convention_and_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="unknown convention"):
        chain_from_config({"convention": "screw"})
    with pytest.raises(ValueError, match=r"\(N, 7\)"):
        load_robot_spec("franka_fr3").kinematics.end_effector_positions(np.zeros(7))
