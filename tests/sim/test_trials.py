"""Trial scoring for `chatvla2 run --trials` (sim/trials.py), without ROS."""
import numpy as np

from chatvla2.sim.scenes import sample_scene
from chatvla2.sim.trials import TrialResult, ground_truth, save_strip, summary_line, trial_over


def test_ground_truth_names_board_answer_and_cards():
    scene = sample_scene("math", 100000, "heldout")
    e = scene.equation
    assert ground_truth(scene) == (f"board shows '{e.text} = ?', answer {e.result}, cards "
                                   f"{[c.digit for c in scene.cards]} left to right")
    placement = sample_scene("placement", 3, "train")
    assert ground_truth(placement) == placement.instruction


def test_a_trial_ends_at_success_a_wrong_card_or_time():
    scene = sample_scene("math", 100000, "heldout")
    assert trial_over(scene, (True, "answer card lifted"), 1.0, 60.0)
    assert trial_over(scene, (False, "lifted wrong card 3"), 1.0, 60.0)
    assert not trial_over(scene, (False, "nothing lifted"), 59.9, 60.0)
    assert trial_over(scene, (False, "nothing lifted"), 60.0, 60.0)


def test_strip_and_summary(tmp_path):
    scene = sample_scene("math", 100000, "heldout")
    results = [TrialResult(scene.seed, True, "answer card lifted", 12.0, ["a", "b"]),
               TrialResult(scene.seed + 1, False, "nothing lifted", 60.0, [])]
    frames = [np.full((32, 32, 3), i * 10, np.uint8) for i in range(25)]
    path = save_strip(results[0], scene, frames, tmp_path / "strip.png")
    assert path.is_file() and path.stat().st_size > 100
    assert save_strip(results[1], scene, [], tmp_path / "none.png") is None
    assert summary_line(results) == "1/2 trials picked the right card"
    assert [r.verdict for r in results] == ["PICKED THE RIGHT CARD", "did not pick the right card"]
