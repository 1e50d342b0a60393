"""The one episode loop (sim/episode.py): chunks through the real controller core, under injected
inference delay, with the delay table's smoothness figures."""
from collections import Counter

import numpy as np
import pytest

from chatvla2.control.controller import ControllerConfig
from chatvla2.sim.delay_commands import markdown, parse_delay
from chatvla2.sim.episode import EpisodeResult, controller_config_from_params, run_episode
from chatvla2.sim.expert import ExpertPolicy


@pytest.mark.parametrize("delay", [0, 3])
def test_the_expert_still_succeeds_when_its_chunks_arrive_late(env, delay):
    config = ControllerConfig(control_period_s=0.01, execution_mode="ensemble", chunk_timeout_s=1.0, dry_run=False)
    episode = run_episode(env, ExpertPolicy(env), "math", 5, "train", config, lambda: delay, max_steps=120,
                          query_every_steps=2, trace=True)
    assert episode.success, episode.reason
    assert episode.targets.shape == episode.commands.shape and episode.targets.shape[1] == 8
    assert len(episode.switch_ticks) >= 5 and episode.rejections == 0
    # Each chunk answers an observation `delay` steps old: the first switch happens that late.
    assert episode.switch_ticks[0] == delay * 10


def test_switch_metrics_see_a_jump_and_ignore_smooth_motion():
    ticks = 50
    smooth = np.linspace(0.0, 0.5, ticks)[:, None] * np.ones(8)
    jumped = smooth.copy()
    jumped[30:, 0] += 0.2  # a 0.2 rad step at tick 30, where a chunk took over
    episode = EpisodeResult("math", 0, "train", False, "", 5, "", "", targets=jumped, commands=jumped, switch_ticks=[30])
    assert episode.switch_jump_rad() == pytest.approx(0.2 + 0.5 / 49, abs=1e-9)
    assert episode.switch_acceleration() == pytest.approx(0.2 / 0.01 ** 2, rel=1e-6)
    calm = EpisodeResult("math", 0, "train", False, "", 5, "", "", targets=smooth, commands=smooth, switch_ticks=[30])
    assert calm.switch_jump_rad() == pytest.approx(0.5 / 49) and calm.switch_acceleration() < 1e-6
    assert calm.command_jerk_rms() < 1e-6 < episode.command_jerk_rms()


def test_delay_settings_and_table():
    assert parse_delay("0") == (0, 0) and parse_delay("2+-1") == (1, 3)
    with pytest.raises(ValueError, match="below 0"):
        parse_delay("1+-2")
    row = {"delay_steps": "2", "mode": "rtc", "episodes": 6, "success": 4, "switch_jump_rad": 0.01,
           "switch_acceleration_rad_s2": 80.0, "command_jerk_rms_rad_s3": 300.0, "gate_rejections": 0,
           "safety_interventions": 12}
    assert markdown([row]).splitlines()[-1] == "| 2 | rtc | 4/6 | 0.010 | 80 | 300 | 0 | 12 |"
