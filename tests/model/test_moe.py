import math

import pytest
import torch
from transformers import Qwen2VLTextConfig

from chatvla2.model.config import MoEConfig
from chatvla2.model.moe import MoEBlock, RoutingContext, load_balancing_loss


def text_config(hidden=32, width=64):
    return Qwen2VLTextConfig(hidden_size=hidden, intermediate_size=width, num_hidden_layers=1,
                             num_attention_heads=4, num_key_value_heads=2, vocab_size=16)


def block(**moe):
    torch.manual_seed(0)
    return MoEBlock(text_config(), MoEConfig(**moe))


def test_top_k_selects_exactly_k_experts_per_token():
    for k in (1, 2, 3):
        moe = block(num_experts=6, top_k=k).eval()
        tokens = torch.randn(50, 32)
        probs, selected, weights = moe.route(tokens, torch.zeros(50, dtype=torch.long))
        assert selected.shape == (50, k)
        assert all(len(set(row.tolist())) == k for row in selected)
        # the selected experts are the k most probable ones, weights renormalised to 1
        assert torch.equal(selected.sort(dim=1).values, probs.topk(k, dim=1).indices.sort(dim=1).values)
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(50))
        moe(torch.randn(2, 25, 32))
        assert int(moe.last_stats.tokens_per_expert.sum()) == 50 * k


def test_gradients_reach_every_expert_that_received_tokens():
    moe = block(num_experts=8, top_k=2).train()
    moe(torch.randn(1, 6, 32)).square().sum().backward()
    counts = moe.last_stats.tokens_per_expert
    assert 0 < int((counts > 0).sum()) <= 8
    for expert, received in zip(moe.experts, counts.tolist()):
        grad = expert.down_proj.weight.grad
        if received:
            assert grad is not None and grad.abs().sum() > 0
        else:
            assert grad is None or grad.abs().sum() == 0
    assert moe.gate.weight.grad.abs().sum() > 0
    assert moe.noise.weight.grad.abs().sum() > 0  # the noise network learns in training


def test_noise_only_in_training():
    moe = block(num_experts=8, top_k=2)
    x = torch.randn(1, 40, 32)
    moe.eval()
    torch.testing.assert_close(moe(x), moe(x))
    moe.train()
    assert not torch.allclose(moe(x), moe(x))


def test_aux_loss_minimal_for_uniform_routing():
    experts, tokens = 8, 400
    uniform = torch.full((tokens, experts), 1 / experts)
    balanced = torch.arange(tokens * 2).reshape(tokens, 2) % experts
    assert load_balancing_loss(uniform, balanced, experts).item() == pytest.approx(1.0)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        probs = (torch.randn(tokens, experts, generator=generator) * 3).softmax(-1)
        selected = probs.topk(2, dim=-1).indices
        assert load_balancing_loss(probs, selected, experts).item() >= 1.0 - 1e-6
    collapsed = torch.zeros(tokens, experts)
    collapsed[:, 0] = 1.0
    assert load_balancing_loss(collapsed, torch.zeros(tokens, 2, dtype=torch.long), experts).item() == pytest.approx(experts)


def test_static_moe_routes_by_modality():
    moe = block(kind="static", num_experts=2).eval()
    modality = torch.tensor([[0, 1, 1, 0, 1]])
    moe.context = RoutingContext(modality=modality, valid=torch.ones_like(modality, dtype=torch.bool))
    out = moe(torch.randn(1, 5, 32))
    assert moe.last_stats.tokens_per_expert.tolist() == [2, 3]
    x = torch.randn(1, 5, 32)
    expected = torch.stack([moe.experts[int(m)](x[0, i]) for i, m in enumerate(modality[0])])
    torch.testing.assert_close(moe(x)[0], expected)
    assert out.shape == (1, 5, 32)


def test_routing_stats_entropy_and_padding_mask():
    moe = block(num_experts=4, top_k=2).eval()
    valid = torch.tensor([[True, True, True, False, False]])
    moe.context = RoutingContext(modality=torch.zeros(1, 5, dtype=torch.long), valid=valid)
    moe(torch.randn(1, 5, 32))
    stats = moe.last_stats
    assert int(stats.tokens_per_expert.sum()) == 3 * 2  # padding is not counted
    assert 0.0 < stats.load_entropy_bits <= math.log2(4) + 1e-6
    assert 0.0 < stats.token_entropy_bits <= math.log2(4) + 1e-6


def test_shared_expert_variant_uses_shared_expert():
    moe = block(kind="shared", num_experts=4, top_k=2).eval()
    x = torch.randn(1, 3, 32)
    before = moe(x)
    with torch.no_grad():
        moe.shared_expert.down_proj.weight.mul_(2.0)
    assert not torch.allclose(before, moe(x))


def test_sorted_dispatch_equals_a_loop_over_experts():
    moe = block(num_experts=6, top_k=2).eval()
    tokens = torch.randn(40, 32)
    with torch.no_grad():
        _, selected, weights = moe.route(tokens, torch.zeros(40, dtype=torch.long))
        expected = torch.zeros_like(tokens)
        for index, expert in enumerate(moe.experts):
            for slot in range(2):
                rows = selected[:, slot] == index
                expected[rows] += expert(tokens[rows]) * weights[rows, slot, None]
        torch.testing.assert_close(moe.dispatch(tokens, selected, weights), expected)
        one_token = moe.dispatch(tokens[:1], selected[:1], weights[:1])  # most experts get nothing
        torch.testing.assert_close(one_token, expected[:1])


def test_serving_skips_the_aux_loss_but_keeps_routing_statistics():
    moe = block(num_experts=4, top_k=2).eval()
    with torch.no_grad():  # stage 2 and validation still report the loss
        moe(torch.randn(1, 8, 32))
    assert moe.last_aux_loss is not None
    with torch.inference_mode():
        moe(torch.randn(1, 8, 32))
    assert moe.last_aux_loss is None
    assert int(moe.last_stats.tokens_per_expert.sum()) == 16
