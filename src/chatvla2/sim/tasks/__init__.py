"""The task registry: a task is one object, made in the task's own module and registered here.

Everything that differs between tasks goes through its `Task`: the scene sampler (with its
instruction and reasoning annotation), the MuJoCo bodies and textures, the outcome judged from
the simulator's ground truth, the scripted expert's waypoints, the image-text questions about a
scene, and the splits the eval table reports. The CLI's `--task` choices, gen-data, eval,
eval-table, the delay table, the sim arm node and bag2dataset read this registry.

A new task is one module under this package that builds a `Task` and is listed in `_MODULES`,
plus its tests (tests/sim/test_task_registry.py checks every registered task end to end).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

_MODULES = ("chatvla2.sim.tasks.math_cards", "chatvla2.sim.tasks.placement")


@dataclass(frozen=True)
class Task:
    name: str
    summary: str  # one line for --help
    splits: tuple[str, ...]  # the scene splits its sampler draws from
    eval_splits: tuple[str, ...]  # the eval table's splits, in order
    instruction_words: tuple[str, ...]  # words that mark an instruction as this task's (old bags)
    sample_scene: Callable[[int, str], Any]  # (seed, split) -> scene with .task/.instruction/.reasoning
    textures: Callable[[Any], dict[str, bytes]]  # scene -> PNG bytes by file name, board.png included
    bodies: Callable[[Any], tuple[str, str]]  # scene -> (MJCF asset XML, worldbody XML) of its objects
    object_names: Callable[[Any], list[str]]  # scene -> the MuJoCo bodies whose motion is judged
    outcome: Callable[[Any], tuple[bool, str]]  # TaskEnv -> (success, reason) from ground truth
    expert_waypoints: Callable[..., list]  # (TaskEnv, **options) -> [(TCP (3,), opening m, steps)]
    questions: Callable[[Any], list[tuple[str, str]]]  # scene -> image-text (question, answer) pairs
    answer_place: Callable[[Any], int | None] = lambda scene: None  # the eval table's per-place rows
    final_failures: tuple[str, ...] = ()  # outcome reasons (prefixes) with no way back: the episode ends


_REGISTRY: dict[str, Task] = {}


def _load() -> dict[str, Task]:
    if not _REGISTRY:
        for module_name in _MODULES:
            task = importlib.import_module(module_name).TASK
            if task.name in _REGISTRY:
                raise ValueError(f"task '{task.name}' is registered twice ({module_name})")
            _REGISTRY[task.name] = task
    return _REGISTRY


def task_names() -> tuple[str, ...]:
    return tuple(_load())


def get_task(name: str) -> Task:
    tasks = _load()
    if name not in tasks:
        raise ValueError(f"unknown task '{name}': use one of {', '.join(tasks)}")
    return tasks[name]


def task_of(scene) -> Task:
    """The task a sampled scene belongs to."""
    return get_task(scene.task)


def guess_task(instruction: str) -> str:
    """The task whose instruction words the instruction holds, for old bags without episode
    markers; an instruction no task claims is an error (name the task instead)."""
    text = instruction.lower()
    for task in _load().values():
        if any(word in text for word in task.instruction_words):
            return task.name
    raise ValueError(f"cannot tell which task the instruction {instruction!r} belongs to "
                     f"({', '.join(_load())}): pass --task")
