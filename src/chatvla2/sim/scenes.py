"""Scenes of every task: what is on the table, the instruction and the reasoning annotation.

A scene is sampled from (task, seed, split) alone, so an episode can be rebuilt from its file's
attrs. Each task's sampler, templates and bodies live in its module under `chatvla2.sim.tasks`
(math_cards.py, placement.py); these functions dispatch to the registry. Reasoning follows fixed
templates with a small regular vocabulary (a tiny word-level model learns them).
"""
from __future__ import annotations

ORDINALS = ("first", "second", "third", "fourth")
ROBOT_BASE_POS_M = (0.45, -0.58, 0.0)  # the arm reaches across the table from the right
REACH_M = 0.76  # farthest table point from the base a top-down grasp reaches with margin
HOVER_M = 0.1  # the expert's approach height above a grasp


def sample_scene(task: str, seed: int, split: str = "train"):
    from chatvla2.sim.tasks import get_task

    return get_task(task).sample_scene(seed, split)


def scene_assets(scene) -> dict[str, bytes]:
    """Texture PNGs the scene's MJCF names, keyed by file name."""
    from chatvla2.sim.tasks import task_of

    return task_of(scene).textures(scene)


def scene_xml(scene) -> tuple[str, str]:
    """(asset XML, worldbody XML) of the scene's objects."""
    from chatvla2.sim.tasks import task_of

    return task_of(scene).bodies(scene)
