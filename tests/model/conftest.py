"""Shared fixtures of the model tests: a tiny model and two sim-sized camera frames."""
import numpy as np
import pytest
import torch

torch.set_num_threads(2)



@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return {"front": rng.integers(0, 256, (240, 320, 3), dtype=np.uint8),
            "wrist": rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)}


@pytest.fixture
def tiny_model():
    from chatvla2.model.chatvla2 import ChatVLA2Model

    torch.manual_seed(0)
    return ChatVLA2Model.from_preset("tiny")
