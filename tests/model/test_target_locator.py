"""The target locator: a head given one starts as it was; its pointer sees prompt tokens only; it
learns to point at the token the reasoning names and to read that token's position; and the head's
condition then depends on what it located."""
from __future__ import annotations

import pytest
import torch

from chatvla2.model.action_head import ReasoningFollowingHead, TokenContext, add_head_parts
from chatvla2.model.config import ActionHeadConfig
from chatvla2.model.target_locator import LocatorTarget, TargetLocator, locator_loss, pointer_accuracy

EMBED, PROMPT, REASONING = 24, 12, 4
torch.set_num_threads(1)


def head():
    torch.manual_seed(0)
    return ReasoningFollowingHead(ActionHeadConfig(width=32, depth=4, num_heads=4, horizon=16, action_dim=8,
                                                   state_dim=8), EMBED)


def grid_positions(batch: int) -> torch.Tensor:
    """Prompt tokens on a 3 x 4 image grid (M-RoPE t, h, w), then reasoning tokens as text."""
    rows, columns = torch.meshgrid(torch.arange(3), torch.arange(4), indexing="ij")
    image = torch.stack([torch.zeros(PROMPT, dtype=torch.long), rows.flatten() + 5, columns.flatten() + 5], dim=-1)
    text = (torch.arange(REASONING) + 10)[:, None].expand(REASONING, 3)
    return torch.cat([image, text])[None].expand(batch, -1, -1)


def naming_task(batch: int, generator: torch.Generator) -> tuple[TokenContext, LocatorTarget]:
    """Prompt tokens of random content; the reasoning carries a noisy copy of one of them (the
    named one), which lies at a random grid cell. The truth: that cell's index and its (h, w)."""
    prompt = torch.randn(batch, PROMPT, EMBED, generator=generator)
    named = torch.randint(0, PROMPT, (batch,), generator=generator)
    reasoning = torch.randn(batch, REASONING, EMBED, generator=generator) * 0.3
    reasoning[:, -1] += prompt[torch.arange(batch), named]
    states = torch.cat([prompt, reasoning], dim=1)
    is_reasoning = torch.arange(PROMPT + REASONING) >= PROMPT
    context = TokenContext(states, grid_positions(batch), is_reasoning.expand(batch, -1),
                           torch.ones(batch, PROMPT + REASONING, dtype=torch.bool))
    position = torch.stack([named // 4 - 1.0, (named % 4 - 1.5) / 1.5], dim=-1)
    return context, LocatorTarget(position.float(), named)


def test_a_head_given_a_locator_starts_as_it_was_and_then_follows_the_located_target():
    plain = head().eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in list(plain.blocks) + [plain.final]:
            for parameter in module.adaLN_modulation.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
        plain.final.linear.weight.copy_(torch.randn(plain.final.linear.weight.shape, generator=generator) * 0.2)
    locating = add_head_parts(plain, EMBED, target_locator=True).eval()
    assert locating.config.target_locator and locating.config.reads_tokens and not plain.config.target_locator
    batch = 3
    args = (torch.randn(batch, 16, 8, generator=generator), torch.randint(0, 100, (batch,), generator=generator),
            torch.randn(batch, 8, generator=generator), torch.randn(batch, EMBED, generator=generator),
            torch.randn(batch, EMBED, generator=generator))
    context, _ = naming_task(batch, generator)
    torch.testing.assert_close(locating(*args, context), plain(*args))  # target projection at zero
    with pytest.raises(ValueError, match="TokenContext"):
        locating(*args)
    with pytest.raises(ValueError, match="unknown head parts"):
        add_head_parts(plain, EMBED, wings=True)
    with torch.no_grad():
        locating.target_proj[-1].weight.normal_(0.0, 0.5)
    here, there = torch.zeros(batch, 2), torch.ones(batch, 2)
    assert not torch.allclose(locating(*args, target=here), locating(*args, target=there))
    # only the reasoning half is conditioned on it
    blocks_here = locating.conditions(args[1], args[2], args[3], args[4], here)
    blocks_there = locating.conditions(args[1], args[2], args[3], args[4], there)
    torch.testing.assert_close(blocks_here["observation"], blocks_there["observation"])
    assert not torch.allclose(blocks_here["reasoning"], blocks_there["reasoning"])


def test_the_pointer_sees_prompt_tokens_only_and_survives_a_row_without_reasoning():
    torch.manual_seed(0)
    locator = TargetLocator(EMBED, 32, 4).eval()
    context, _ = naming_task(2, torch.Generator().manual_seed(0))
    located = locator(context)
    assert located.target.shape == (2, 2)
    assert torch.isinf(located.logits[:, PROMPT:]).all() and torch.isfinite(located.logits[:, :PROMPT]).all()
    no_reasoning = TokenContext(context.states, context.positions, torch.zeros_like(context.reasoning),
                                context.valid)
    assert torch.isfinite(locator(no_reasoning).target).all()


def test_the_locator_learns_to_point_at_the_named_token_and_read_where_it_lies():
    torch.manual_seed(0)
    locator = TargetLocator(EMBED, 32, 4)
    optimizer = torch.optim.AdamW(locator.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(2)
    held_out = naming_task(256, torch.Generator().manual_seed(99))
    with torch.no_grad():
        before = pointer_accuracy(locator(held_out[0]), held_out[1])
    for _ in range(800):
        context, truth = naming_task(64, generator)
        loss = locator_loss(locator(context), truth)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        located = locator(held_out[0])
    accuracy = pointer_accuracy(located, held_out[1])
    error = (located.target - held_out[1].position).abs().max(dim=-1).values
    assert before < 0.3 and accuracy > 0.9, (before, accuracy)
    assert float((error < 0.25).float().mean()) > 0.85  # cells are 1.0 and 0.67 apart in these units
    truth_without_tokens = LocatorTarget(held_out[1].position, torch.full_like(held_out[1].token, -1))
    torch.testing.assert_close(locator_loss(located, truth_without_tokens),
                               torch.nn.functional.mse_loss(located.target, held_out[1].position))
