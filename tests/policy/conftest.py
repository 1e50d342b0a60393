"""The real tiny ChatVLA-2 model with random weights (seed 0, 2 CPU threads), one per test module."""
import pytest
import torch

from chatvla2.model.chatvla2 import ChatVLA2Model


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    return ChatVLA2Model.from_preset("tiny").eval()
