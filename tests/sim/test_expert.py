"""The scripted expert solves both tasks in closed-loop physics; baselines and evaluation."""
import numpy as np
import pytest

from chatvla2.sim.baselines import RandomPolicy
from chatvla2.sim.evaluation import run_policy_episode, summarize
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
    result = run_policy_episode(env, policy, "math", 5, "heldout", max_steps=100, execute_steps=8)
    assert result.success, result.reason
    assert result.reasoning == result.expected_reasoning


def test_random_policy_stays_in_limits_and_is_reported(env):
    policy = RandomPolicy(env.robot, seed=3)
    results = [run_policy_episode(env, policy, "math", s, "train", max_steps=24, execute_steps=8) for s in (1, 2)]
    summary = summarize(results)
    assert summary["episodes"] == 2 and 0.0 <= summary["success_rate"] <= 1.0
    assert sum(summary["failures"].values()) == 2 - sum(r.success for r in results)
    assert np.all(env.qpos()[:7] <= env.robot.position_max_rad + 0.02)
