"""The scripted expert solves both tasks in closed-loop physics; baselines and evaluation."""
import numpy as np
import pytest

from chatvla2.sim.baselines import RandomPolicy
from chatvla2.sim.episode import run_episode, summarize
from chatvla2.sim.expert import ExpertPolicy, plan_expert_actions


@pytest.mark.parametrize("task,seed", [("math", 11), ("math", 12), ("placement", 11), ("placement", 12)])
def test_expert_plan_succeeds(env, task, seed):
    env.reset(task, seed, "train")
    plan = plan_expert_actions(env)
    assert plan.shape[1] == 8 and 40 <= len(plan) <= 120
    for action in plan:
        env.step(action)
    success, reason = env.outcome()
    assert success, reason


def test_grasped_card_is_the_answer_and_only_it_rises(env):
    scene = env.reset("math", 21, "cardswap")
    for action in plan_expert_actions(env):
        env.step(action)
    lifts = {c.digit: env.body_pos(f"card{c.digit}")[2] - env.initial_body_pos[f"card{c.digit}"][2]
             for c in scene.cards}
    assert lifts[scene.equation.result] > 0.15
    assert all(abs(v) < 0.01 for d, v in lifts.items() if d != scene.equation.result)


def test_expert_policy_through_the_evaluation_loop(env):
    policy = ExpertPolicy(env)
    result = run_episode(env, policy, "math", 5, "heldout", max_steps=100, query_every_steps=8)
    assert result.success, result.reason
    assert result.reasoning == result.expected_reasoning


def test_random_policy_stays_in_limits_and_is_reported(env):
    policy = RandomPolicy(env.robot, seed=3)
    results = [run_episode(env, policy, "math", s, "train", max_steps=24, query_every_steps=8) for s in (1, 2)]
    summary = summarize(results)
    assert summary["episodes"] == 2 and 0.0 <= summary["success_rate"] <= 1.0
    assert sum(summary["failures"].values()) == 2 - sum(r.success for r in results)
    assert np.all(env.qpos()[:7] <= env.robot.position_max_rad + 0.02)


def test_habitual_place_is_where_training_answers_lie_most_often():
    from chatvla2.sim.baselines import answer_place_counts, habitual_place

    counts = answer_place_counts("train", seeds=2000)
    assert sum(counts) == 2000 and habitual_place() == int(np.argmax(answer_place_counts("train")))
    assert counts[habitual_place()] / 2000 > 1 / 3, "the habit is worth something: above a uniform guess"
    assert answer_place_counts("cardswap", seeds=200)[2] == 200, "card-swap answers are all third from the left"


def seed_with_answer_place(split: str, place: int) -> int:
    from chatvla2.sim.tasks.math_cards import sample_math_scene

    return next(s for s in range(100000, 100200)
                if (scene := sample_math_scene(s, split)).cards.index(scene.answer_card) == place)


def test_habit_policy_lifts_its_place_whatever_the_answer_and_eval_breaks_it_down(env):
    from chatvla2.sim.baselines import HabitPolicy

    policy = HabitPolicy(env, place=0)
    right = run_episode(env, policy, "math", seed_with_answer_place("heldout", 0), "heldout", max_steps=100)
    wrong = run_episode(env, policy, "math", seed_with_answer_place("heldout", 1), "heldout", max_steps=100)
    assert right.success, right.reason
    assert not wrong.success and wrong.reason.startswith("lifted wrong card"), wrong.reason
    assert "first from the left" in wrong.reasoning
    summary = summarize([right, wrong])
    assert summary["by_answer_place"] == {0: (1, 1), 1: (0, 1)}
