"""The task registry: every registered task runs end to end in MuJoCo, the CLI offers exactly the
registered tasks, and a task's name appears in no module but its own (so a new task is its own
file under src/chatvla2/sim/tasks/ plus its tests)."""
from __future__ import annotations

import argparse
import re

import pytest

from chatvla2.sim import tasks
from chatvla2.sim.tasks import get_task, guess_task, task_names
from ros_testing import REPO

SRC = REPO / "src" / "chatvla2"
# Where a task's name may be written: its module, the registry's list of modules, and the
# defaults that pick the first task (the sim arm, eval-table). Math-only features are named
# where they live (the named-card lifts, the card locator, the reading scenes).
NAME_ALLOWED = {
    "math": {"sim/tasks/math_cards.py", "sim/sim_arm.py", "ros/sim_arm_node.py", "train/evaluate.py",
             "train/locator_targets.py", "data/commands.py", "data/recording.py", "data/reading_scenes.py"},
    "placement": {"sim/tasks/placement.py"},
}


@pytest.mark.parametrize("name", task_names())
def test_every_task_runs_its_expert_to_success_and_judges_the_start_a_failure(name):
    from chatvla2.control.robot import load_robot_spec
    from chatvla2.sim.env import SimConfig, TaskEnv
    from chatvla2.sim.expert import plan_expert_actions

    task = get_task(name)
    assert set(task.eval_splits) <= set(task.splits)
    env = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=64, image_width_px=64))
    try:
        scene = env.reset(name, 7, task.eval_splits[0])
        assert scene.task == name and scene.instruction and scene.reasoning
        assert set(task.object_names(scene)) <= {env.model.body(i).name for i in range(env.model.nbody)}
        assert env.outcome()[0] is False, "the task counts an untouched scene as done"
        for action in plan_expert_actions(env):
            env.step(action)
        assert env.outcome()[0], env.outcome()
        assert all(q and a for q, a in task.questions(scene))
        assert guess_task(scene.instruction) == name
    finally:
        env.close_renderer()


def test_the_cli_offers_exactly_the_registered_tasks():
    from chatvla2.sim.commands import add_arguments as eval_arguments
    from chatvla2.train.evaluate import add_arguments as table_arguments

    for add in (eval_arguments, table_arguments):
        parser = argparse.ArgumentParser()
        add(parser)
        action = next(a for a in parser._actions if a.dest == "task")
        assert tuple(action.choices) == task_names()


def test_unknown_tasks_and_instructions_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown task 'stacking': use one of math, placement"):
        get_task("stacking")
    with pytest.raises(ValueError, match="pass --task"):
        guess_task("wave at the camera")


def test_a_task_is_named_only_in_its_own_module():
    """The files a new task needs: src/chatvla2/sim/tasks/<task>.py (listed in tasks._MODULES)
    and its tests. Any other module naming a task by its string is a place a new task would have
    to be added by hand."""
    assert [m.rsplit(".", 1)[1] for m in tasks._MODULES] == ["math_cards", "placement"]
    for name, allowed in NAME_ALLOWED.items():
        literal = re.compile(rf"""["']{name}["']""")
        naming = {str(path.relative_to(SRC)) for path in SRC.rglob("*.py") if literal.search(path.read_text())}
        assert naming <= allowed, f"modules that name the task '{name}': {sorted(naming - allowed)}"
