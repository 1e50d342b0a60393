import numpy as np
import pytest

from chatvla2.control.joint_order import JointNamesMismatch, column_indices, columns_by_name

ROBOT = ("j1", "j2", "j3")


def test_columns_are_picked_by_name_whatever_their_order_and_leading_shape():
    given = ("j3", "extra", "j1", "j2")
    values = np.array([[3.0, 9.0, 1.0, 2.0],
                       [30.0, 90.0, 10.0, 20.0]])  # (T, 4)
    np.testing.assert_array_equal(columns_by_name(given, values, ROBOT, "joint state"),
                                  [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    np.testing.assert_array_equal(columns_by_name(given, values[0], ROBOT, "joint state"), [1.0, 2.0, 3.0])
    assert column_indices(given, ROBOT, "joint state") == [2, 3, 0]


def test_a_missing_joint_is_named_in_the_error():
    with pytest.raises(JointNamesMismatch, match=r"joint state lacks joints \['j3'\]"):
        columns_by_name(("j1", "j2"), [1.0, 2.0], ROBOT, "joint state")


def test_a_repeated_name_is_ambiguous_and_rejected():
    with pytest.raises(JointNamesMismatch, match=r"chunk repeats joints \['j1'\]"):
        column_indices(("j1", "j2", "j3", "j1"), ROBOT, "chunk")


def test_exact_rejects_a_joint_the_robot_does_not_have_and_loose_ignores_it():
    given = ("j1", "j2", "j3", "wheel")
    assert column_indices(given, ROBOT, "command") == [0, 1, 2]
    with pytest.raises(JointNamesMismatch, match=r"command has unknown joints \['wheel'\]"):
        column_indices(given, ROBOT, "command", exact=True)


def test_a_column_count_that_disagrees_with_the_names_is_an_error_not_a_shift():
    with pytest.raises(JointNamesMismatch, match="has 2 columns for 3 joint names"):
        columns_by_name(ROBOT, [1.0, 2.0], ROBOT, "joint state")


def test_it_is_a_value_error_so_existing_handlers_catch_it():
    assert issubclass(JointNamesMismatch, ValueError)
