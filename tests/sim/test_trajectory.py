"""The trajectory follower behind the MuJoCo sim arm node."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from chatvla2.sim.trajectory import TrajectoryFollower


def test_interpolates_and_holds_the_last_point():
    follower = TrajectoryFollower(np.zeros(2))
    follower.set_trajectory(np.zeros(2), 1.0, np.array([0.5, 1.0]), np.array([[1.0, 2.0], [2.0, 2.0]]))
    np.testing.assert_allclose(follower.target(0.0), [0, 0])
    np.testing.assert_allclose(follower.target(1.25), [0.5, 1.0])
    np.testing.assert_allclose(follower.target(1.75), [1.5, 2.0])
    np.testing.assert_allclose(follower.target(9.0), [2.0, 2.0])


@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3), st.floats(0, 5))
def test_targets_stay_between_points(values, now_s):
    follower = TrajectoryFollower(np.zeros(3))
    follower.set_trajectory(np.zeros(3), 0.0, np.array([1.0]), np.array([values]))
    target = follower.target(now_s)
    assert np.all(target >= np.minimum(0, values) - 1e-12) and np.all(target <= np.maximum(0, values) + 1e-12)


def test_rejects_malformed_trajectories():
    follower = TrajectoryFollower(np.zeros(2))
    with pytest.raises(ValueError, match="strictly increasing"):
        follower.set_trajectory(np.zeros(2), 0.0, np.array([0.5, 0.5]), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        follower.set_trajectory(np.zeros(2), 0.0, np.array([0.5]), np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="do not match"):
        follower.set_trajectory(np.zeros(2), 0.0, np.array([0.5]), np.zeros((1, 3)))
