"""The shipped pretrained dense base (models/qwen2vl-tiny-base): a plain transformers directory that
reads, and sparse upcycling of it reproduces it exactly at step 0."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

BASE = Path(__file__).parents[2] / "models" / "qwen2vl-tiny-base"
VLM_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")


@pytest.fixture(scope="module")
def base():
    from chatvla2.train.pretrain import load_base

    model, processor = load_base(BASE)
    return model.eval(), processor


@pytest.fixture(scope="module")
def sim_frame():
    from chatvla2.data.reading_scenes import SimFramePool

    return SimFramePool.render(range(5, 6)).frames[0]  # (224, 224, 3): a train-split scene


def test_transformers_loads_the_base_by_itself():
    from transformers import AutoTokenizer, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    model = Qwen2VLForConditionalGeneration.from_pretrained(BASE)
    tokenizer = AutoTokenizer.from_pretrained(BASE)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(BASE)
    assert model.config.vision_config.patch_size == image_processor.patch_size == 7
    assert tokenizer.convert_tokens_to_ids("<|image_pad|>") == model.config.image_token_id
    assert all((BASE / name).is_file() for name in ("README.md", "curves_stage0.png", "curves_stage0b.png"))


def test_the_base_reads_held_out_sim_boards_card_rows_and_sums(base):
    """Ten held-out probes per kind (the README's table has 30: sim card rows 28/30, sim boards
    30/30, arithmetic 30/30); the bar sits below those so that only a broken base fails it."""
    from chatvla2.data.reading_scenes import HELDOUT_SEED_BASE, SimFramePool
    from chatvla2.train.pretrain import PretrainConfig, answer, probe_set

    model, processor = base
    pool = SimFramePool.render(range(HELDOUT_SEED_BASE, HELDOUT_SEED_BASE + 10))
    sets = probe_set(PretrainConfig(probe_samples=10), pool)
    right = {kind: sum(answer(model, processor, s) == s.answer for s in sets[kind])
             for kind in ("sim_row", "sim_board", "arithmetic")}
    assert right["sim_row"] >= 7 and right["sim_board"] >= 8 and right["arithmetic"] >= 9, right


def test_upcycled_base_reproduces_the_dense_base_at_step_zero(base, sim_frame):
    """The paper's step: every expert a copy of the pretrained MLP, so the MoE model computes the
    base's function whatever the router says, on a real observation of both cameras."""
    from chatvla2.model.chatvla2 import ChatVLA2Model
    from chatvla2.model.config import preset

    dense, _ = base
    config = preset("tiny")
    torch.manual_seed(0)
    with torch.no_grad():
        moe = ChatVLA2Model.upcycle_from_dense(BASE, config)
        for layer in moe.vlm.model.language_model.layers:
            layer.mlp.gate.weight.normal_(std=1.0)  # a router with strong preferences
    assert moe.processor.image_processor.patch_size == 7 and moe.config.max_pixels == 84 * 84
    images = {"front": sim_frame, "wrist": np.ascontiguousarray(sim_frame[::-1])}
    # The MoE model's own inputs: both cameras and the card-row view the preset cuts from the front.
    batch = moe.processor(images, "what numbers are on the cards, left to right?")
    assert len(batch["image_grid_thw"]) == 3
    with torch.no_grad():
        expected = dense(**{k: batch[k] for k in VLM_KEYS}).logits
        moe.eval()
        hidden = moe.run_vlm(batch).last_hidden_state
        torch.testing.assert_close(moe.vlm.lm_head(hidden), expected, rtol=1e-4, atol=1e-4)
        assert sum(int((s.tokens_per_expert > 0).sum()) for s in moe.routing_stats()) > 4


def test_no_upcycling_keeps_random_experts_but_every_other_weight_of_the_base():
    """The "no upcycling" ablation (`model.upcycle_experts: false`): the same pretrained attention,
    embeddings and vision tower, experts that owe nothing to the dense MLP."""
    from chatvla2.model.chatvla2 import ChatVLA2Model
    from chatvla2.model.config import preset

    torch.manual_seed(0)
    copied = ChatVLA2Model.upcycle_from_dense(BASE, preset("tiny"))
    random = ChatVLA2Model.upcycle_from_dense(BASE, preset("tiny"), copy_experts=False)
    dense_mlp_gate = copied.vlm.model.language_model.layers[0].mlp.experts[0].gate_proj.weight
    random_gate = random.vlm.model.language_model.layers[0].mlp.experts[0].gate_proj.weight
    assert dense_mlp_gate.shape == random_gate.shape and not torch.allclose(dense_mlp_gate, random_gate)
    a, b = copied.vlm.state_dict(), random.vlm.state_dict()
    shared = [k for k in a if ".experts." not in k and ".shared_expert." not in k and ".mlp.gate." not in k
              and ".mlp.noise." not in k]
    assert shared and all(torch.equal(a[k], b[k]) for k in shared)
