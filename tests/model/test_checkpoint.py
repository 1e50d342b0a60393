import json

import numpy as np
import pytest
import torch
from transformers import Qwen2VLForConditionalGeneration

from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.model.config import ChatVLA2Config, preset
from chatvla2.model.normalization import ActionStats


def test_config_round_trips_through_json():
    for name in ("tiny", "paper"):
        config = preset(name)
        again = ChatVLA2Config.from_dict(json.loads(json.dumps(config.to_dict())))
        assert again == config
        assert again.qwen2vl_config().text_config.hidden_size == config.text_hidden_size
    with pytest.raises(ValueError, match="unknown fields"):
        ChatVLA2Config.from_dict({**preset("tiny").to_dict(), "bogus": 1})


def test_save_load_round_trip(tiny_model, images, tmp_path):
    model = tiny_model.eval()
    model.set_action_stats(ActionStats(np.full(8, -2.0), np.full(8, 2.0), np.arange(8.0), np.full(8, 0.5)))
    model.save_pretrained(tmp_path)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "preprocessor_config.json", "action_stats.json"):
        assert (tmp_path / name).is_file(), name
    loaded = ChatVLA2Model.from_pretrained(tmp_path).eval()
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)
    np.testing.assert_array_equal(loaded.action_stats.state_mean, np.arange(8.0))
    a, b = (m.generate_reasoning(images, "pick the card", max_new_tokens=5) for m in (model, loaded))
    assert a.token_ids == b.token_ids
    chunks = [m.sample_actions(r.observation_embedding, r.embedding, np.zeros(8), torch.Generator().manual_seed(0))
              for m, r in ((model, a), (loaded, b))]
    torch.testing.assert_close(chunks[0], chunks[1])


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors", "tokenizer.json", "action_stats.json"])
def test_missing_file_is_named(tiny_model, tmp_path, missing):
    tiny_model.save_pretrained(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing.replace(".", r"\.")):
        ChatVLA2Model.from_pretrained(tmp_path)


def test_malformed_files_are_named(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    (tmp_path / "action_stats.json").write_text('{"action_min": [1, 2]}')
    with pytest.raises(ValueError, match="action_stats.json"):
        ChatVLA2Model.from_pretrained(tmp_path)
    tiny_model.action_stats.save(tmp_path / "action_stats.json")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        ChatVLA2Model.from_pretrained(tmp_path)
    config = tiny_model.config.to_dict()
    config["action_head"]["width"] = 64
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="model.safetensors"):
        ChatVLA2Model.from_pretrained(tmp_path)


@pytest.mark.parametrize("kind", ["dynamic", "shared"])
def test_upcycled_moe_reproduces_the_dense_model(tiny_model, images, tmp_path, kind):
    """Sparse upcycling: right after copying the dense MLP into every expert, the MoE model's
    logits equal the dense model's, whatever the routing (eval, and noisy training routing)."""
    torch.manual_seed(1)
    dense = Qwen2VLForConditionalGeneration(preset("tiny").qwen2vl_config()).eval()
    dense.save_pretrained(tmp_path / "dense")
    config = preset("tiny")
    config.moe.kind = kind
    with torch.no_grad():  # a router that strongly prefers some experts: routing must not matter
        moe = ChatVLA2Model.upcycle_from_dense(tmp_path / "dense", config, processor=tiny_model.processor)
        for layer in moe.vlm.model.language_model.layers:
            layer.mlp.gate.weight.normal_(std=1.0)
    batch = tiny_model.processor(images, "pick the card that answers the board")
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")}
    with torch.no_grad():
        expected = dense(**inputs).logits
        for mode in (moe.eval, moe.train):
            mode()
            hidden = moe.run_vlm(batch).last_hidden_state
            torch.testing.assert_close(moe.vlm.lm_head(hidden), expected, rtol=1e-4, atol=1e-4)
            used = sum(int((s.tokens_per_expert > 0).sum()) for s in moe.routing_stats())
            assert used > 4  # several experts really were used
    moe.eval()
    with torch.no_grad():
        moe.vlm.model.language_model.layers[0].mlp.experts[0].down_proj.weight.mul_(1.5)
        hidden = moe.run_vlm(batch).last_hidden_state
    assert not torch.allclose(moe.vlm.lm_head(hidden), expected, rtol=1e-4, atol=1e-4)


def test_upcycling_needs_the_dense_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        ChatVLA2Model.upcycle_from_dense(tmp_path, preset("tiny"))
