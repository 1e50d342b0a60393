"""Joint order: picking a robot's columns out of arrays whose columns are named joints.

Messages, recordings and policies name their joints and may list them in any order (a
JointState from a driver, a chunk from a model trained on another order, a recorded command).
Everything that lines such an array up with the robot goes through `columns_by_name`, so a
missing, repeated or (where the caller asks for an exact match) unknown joint is the same clear
error everywhere and never a silent shift of columns onto the wrong joints."""
from __future__ import annotations

from typing import Sequence

import numpy as np


class JointNamesMismatch(ValueError):
    """Columns named by `given` cannot be lined up with the joints `wanted`."""


def column_indices(given: Sequence[str], wanted: Sequence[str], what: str,
                   exact: bool = False) -> list[int]:
    """Index of each wanted joint among the given names.

    Raises JointNamesMismatch when a wanted joint is missing, a given name is repeated (which
    column would be meant is ambiguous) or, with exact=True, a given name is not wanted."""
    given = list(given)
    repeated = sorted({name for name in given if given.count(name) > 1})
    missing = [name for name in wanted if name not in given]
    unknown = [name for name in given if name not in wanted] if exact else []
    if repeated or missing or unknown:
        problems = [f"{label} {names}" for label, names in
                    (("lacks joints", missing), ("repeats joints", repeated), ("has unknown joints", unknown)) if names]
        raise JointNamesMismatch(f"{what} {', '.join(problems)} (names {given}, expected {list(wanted)})")
    return [given.index(name) for name in wanted]


def columns_by_name(given: Sequence[str], values, wanted: Sequence[str], what: str,
                    exact: bool = False) -> np.ndarray:
    """values[..., j] belongs to joint given[j]; returns values[..., k] for joint wanted[k]."""
    values = np.asarray(values)
    if values.shape[-1:] != (len(given),):
        raise JointNamesMismatch(f"{what} has {values.shape[-1] if values.ndim else 0} columns "
                                 f"for {len(given)} joint names")
    return values[..., column_indices(given, wanted, what, exact)]
