import numpy as np
import pytest

from chatvla2.control.chunk import ActionChunk, SmoothHandover, TemporalEnsembler, make_executor

NAMES = ("a", "b")


def chunk(value: float, stamp_s: float, horizon: int = 5) -> ActionChunk:
    return ActionChunk(NAMES, np.full((horizon, 2), value), 0.1, stamp_s)


def test_sample_interpolates_between_rows_and_skips_the_past():
    c = ActionChunk(NAMES, np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]), 0.1, 10.0)
    np.testing.assert_allclose(c.sample(10.05), [0.0, 0.0])   # before row 0's time: row 0
    np.testing.assert_allclose(c.sample(10.15), [0.5, 1.0])   # halfway between rows 0 and 1
    np.testing.assert_allclose(c.sample(10.3), [2.0, 4.0])
    assert c.sample(10.31) is None                            # used up


def test_latest_replaces_and_ignores_older_stamps():
    player = make_executor("latest")
    player.submit(chunk(1.0, 0.0), 0.0)
    player.submit(chunk(2.0, 0.05), 0.05)
    player.submit(chunk(3.0, 0.01), 0.06)  # answers an older observation: ignored
    np.testing.assert_allclose(player.target(0.1), [2.0, 2.0])


def test_ensemble_weights_the_oldest_most_like_act():
    ensembler = TemporalEnsembler(decay=np.log(2.0))  # weights 1, 1/2
    ensembler.submit(chunk(0.0, 0.0), 0.0)
    ensembler.submit(chunk(3.0, 0.1), 0.1)
    np.testing.assert_allclose(ensembler.target(0.2), [1.0, 1.0])  # (0 * 1 + 3 * 0.5) / 1.5
    assert ensembler.target(0.55) is not None and ensembler.target(0.7) is None


def test_handover_fades_from_old_to_new():
    handover = SmoothHandover(handover_s=0.2)
    handover.submit(chunk(0.0, 0.0), 0.0)
    handover.submit(chunk(1.0, 0.1), 0.1)
    np.testing.assert_allclose(handover.target(0.2), [0.5, 0.5])
    np.testing.assert_allclose(handover.target(0.3), [1.0, 1.0])


def test_bad_chunks_and_modes_are_refused():
    with pytest.raises(ValueError, match="no steps"):
        ActionChunk(NAMES, np.zeros((0, 2)), 0.1, 0.0)
    with pytest.raises(ValueError, match="step_dt_s"):
        ActionChunk(NAMES, np.zeros((2, 2)), float("nan"), 0.0)
    with pytest.raises(ValueError, match="execution_mode"):
        make_executor("fastest")
