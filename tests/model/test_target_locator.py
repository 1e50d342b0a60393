"""The target locator: a head given one starts as it was; its pointer sees prompt tokens only; it
learns to point at the token the reasoning names and to read that token's position; and the head's
condition then depends on what it located."""
from __future__ import annotations

import pytest
import torch

from chatvla2.model.action_head import ReasoningFollowingHead, TokenContext, add_head_parts
from chatvla2.model.config import ActionHeadConfig
from chatvla2.model.target_locator import (LocatorTarget, TargetLocator, locator_loss, name_accuracy,
                                           pointer_accuracy)

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


def card_row_task(batch: int, generator: torch.Generator) -> tuple[TokenContext, LocatorTarget]:
    """Three cards (distinct digits, each a fixed random vector plus noise) in random cells of the
    grid, left to right by column; the reasoning's last token carries the named card's digit and
    place, plus a flag that says whether it lies in the top row (a shortcut the pointer must not see:
    the rest of the reasoning). The truth: the card's cell, its (h, w), its digit and place."""
    digits = torch.randn(10, EMBED, generator=torch.Generator().manual_seed(7))
    places = torch.randn(4, EMBED, generator=torch.Generator().manual_seed(8))
    prompt = torch.randn(batch, PROMPT, EMBED, generator=generator) * 0.3
    reasoning = torch.randn(batch, REASONING, EMBED, generator=generator) * 0.3
    cells = torch.stack([torch.randperm(PROMPT, generator=generator)[:3] for _ in range(batch)])
    cells = torch.gather(cells, 1, (cells % 4 * PROMPT + cells).argsort(dim=1))  # by column: the row's order
    card_digits = torch.stack([torch.randperm(10, generator=generator)[:3] for _ in range(batch)])
    rows = torch.arange(batch)
    for card in range(3):
        prompt[rows, cells[:, card]] += digits[card_digits[:, card]]
    place = torch.randint(0, 3, (batch,), generator=generator)
    named, digit = cells[rows, place], card_digits[rows, place]
    reasoning[:, -1] += digits[digit] + places[place] + (named < 4).float()[:, None] * 2.0
    context = TokenContext(torch.cat([prompt, reasoning], dim=1), grid_positions(batch),
                           (torch.arange(PROMPT + REASONING) >= PROMPT).expand(batch, -1),
                           torch.ones(batch, PROMPT + REASONING, dtype=torch.bool))
    position = torch.stack([named // 4 - 1.0, (named % 4 - 1.5) / 1.5], dim=-1)
    return context, LocatorTarget(position.float(), named, torch.stack([digit, place], dim=-1))


def test_a_digit_and_place_query_hides_the_rest_of_the_reasoning_from_the_pointer():
    torch.manual_seed(0)
    locator = TargetLocator(EMBED, 32, 4, query="digit-and-place").eval()
    context, truth = card_row_task(4, torch.Generator().manual_seed(0))
    changed = context.states.clone()
    changed[:, PROMPT:] = torch.randn(4, REASONING, EMBED) * 5.0
    other = TokenContext(changed, context.positions, context.reasoning, context.valid)
    with torch.no_grad():
        given, given_other = locator(context, truth.names), locator(other, truth.names)
        read = locator(context)
    torch.testing.assert_close(given.logits, given_other.logits)  # only the names reach the pointer
    torch.testing.assert_close(given.target, given_other.target)
    assert [tuple(logits.shape) for logits in read.name_logits] == [(4, 10), (4, 4)]
    as_read = torch.stack([logits.argmax(dim=-1) for logits in read.name_logits], dim=-1)
    torch.testing.assert_close(read.logits, locator(context, as_read).logits)
    with pytest.raises(ValueError, match="needs their classes"):
        locator_loss(given, LocatorTarget(truth.position, truth.token))
    with pytest.raises(ValueError, match="locator query 'shortcut'"):
        TargetLocator(EMBED, 32, 4, query="shortcut")


def test_a_digit_and_place_locator_learns_to_read_the_names_and_find_the_card():
    torch.manual_seed(0)
    locator = TargetLocator(EMBED, 32, 4, query="digit-and-place")
    optimizer = torch.optim.AdamW(locator.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(2)
    held_out = card_row_task(256, torch.Generator().manual_seed(99))
    for _ in range(800):
        context, truth = card_row_task(64, generator)
        loss = locator_loss(locator(context, truth.names), truth)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        located = locator(held_out[0])  # names as read, not given
    assert name_accuracy(located, held_out[1]) > 0.95
    assert pointer_accuracy(located, held_out[1]) > 0.9
