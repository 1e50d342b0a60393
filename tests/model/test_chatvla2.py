import numpy as np
import torch

from chatvla2.model.normalization import ActionStats

REASONING = "the board says 3 + 4; 3 + 4 = 7; the card 7 is second from the left"


def training_batch(model, images):
    processor = model.processor
    batch = processor.collate([processor.encode(images, "pick the card that answers the board", REASONING),
                               processor.encode(images, "what does the board say?", "3 + 4")])
    g = torch.Generator().manual_seed(0)
    state = torch.randn(2, 8, generator=g)
    actions = torch.rand(2, 16, 8, generator=g) * 2 - 1
    return batch, state, actions


def test_tiny_training_step_and_inference_on_cpu(tiny_model, images):
    model = tiny_model
    batch, state, actions = training_batch(model, images)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    out = model(batch, state=state, actions=actions, action_mask=torch.tensor([True, False]),
                generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    optimizer.step()
    for loss in (out.lm_loss, out.diffusion_loss, out.router_loss):
        assert torch.isfinite(loss) and loss > 0
    expected = out.lm_loss + out.diffusion_loss + 0.01 * out.router_loss
    torch.testing.assert_close(out.loss, expected)
    stats = model.routing_stats()
    assert len(stats) == 4
    valid_tokens = int(batch["attention_mask"].sum())
    assert all(int(s.tokens_per_expert.sum()) == 2 * valid_tokens for s in stats)

    model.eval()
    reasoning = model.generate_reasoning(images, "pick the card", max_new_tokens=16)
    chunk = model.sample_actions(reasoning.observation_embedding, reasoning.embedding, np.zeros(8),
                                 generator=torch.Generator().manual_seed(0))
    assert isinstance(reasoning.text, str) and len(reasoning.token_ids) <= 16
    assert reasoning.embedding.shape == reasoning.observation_embedding.shape == (1, 128)
    assert chunk.shape == (1, 16, 8) and torch.isfinite(chunk).all()


def test_lm_loss_falls_when_training_on_reasoning(tiny_model, images):
    model = tiny_model
    batch, state, actions = training_batch(model, {"wrist": images["wrist"]})
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(5):
        out = model(batch, state=state, actions=actions)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.lm_loss.item())
    assert losses[-1] < 0.85 * losses[0], losses


def teacher_forced(model, images, instruction: str, token_ids: list[int]):
    """The processor's example of `instruction` with `token_ids` appended as its (unscored) target."""
    example = model.processor.encode(images, instruction, None)
    example.input_ids += token_ids
    example.mm_token_type_ids += [0] * len(token_ids)
    example.labels += [-100] * len(token_ids)
    example.target_length = len(token_ids)
    return example


def test_generation_with_cache_matches_full_forward(tiny_model, images):
    """The KV-cache decode must give the same hidden states as one teacher-forced pass."""
    model = tiny_model.eval()
    reasoning = model.generate_reasoning(images, "pick the card", max_new_tokens=6)
    assert len(reasoning.token_ids) > 0  # random weights rarely emit <|im_end|> first
    batch = model.processor.collate([teacher_forced(model, images, "pick the card", reasoning.token_ids)])
    with torch.no_grad():
        out = model(batch)
    torch.testing.assert_close(out.reasoning_embedding, reasoning.embedding, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.observation_embedding, reasoning.observation_embedding, rtol=1e-4, atol=1e-4)


def test_sample_actions_seeded_and_in_physical_units(tiny_model, images):
    model = tiny_model.eval()
    low, high = np.linspace(-2, 0, 8), np.linspace(1, 3, 8)
    model.set_action_stats(ActionStats(low, high, np.zeros(8), np.ones(8)))
    obs = model.embed_observation(images, "pick the card")
    reasoning = torch.randn(1, 128, generator=torch.Generator().manual_seed(0))
    a = model.sample_actions(obs, reasoning, np.zeros(8), generator=torch.Generator().manual_seed(7))
    b = model.sample_actions(obs, reasoning, np.zeros(8), generator=torch.Generator().manual_seed(7))
    c = model.sample_actions(obs, reasoning, np.zeros(8), generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    assert (a >= torch.tensor(low) - 1e-4).all() and (a <= torch.tensor(high) + 1e-4).all()


def test_token_context_of_decoding_equals_teacher_forcing_and_drives_the_head(tiny_model, images):
    """A token-attention head reads at inference the same token states, positions and kinds that
    stage 2 trains it on (one teacher-forced pass over the prompt and the reasoning)."""
    from chatvla2.model.action_head import TokenContext, add_token_attention

    model = tiny_model.eval()
    model.head = add_token_attention(model.head, model.config.text_hidden_size)
    model.config.action_head = model.head.config
    reasoning = model.generate_reasoning(images, "pick the card", max_new_tokens=6)
    text_ids = reasoning.token_ids
    assert len(text_ids) > 0
    short = model.processor.encode(images, "pick", None)  # a shorter row: padding in the batch
    batch = model.processor.collate([teacher_forced(model, images, "pick the card", text_ids), short])
    with torch.no_grad():
        model.vlm.model.rope_deltas = None
        trained_on = model.batch_context(batch, model.run_vlm(batch).last_hidden_state)
    inferred = reasoning.context
    length = inferred.states.shape[1]
    assert trained_on.states.shape[1] == length and int(trained_on.valid[1].sum()) < length
    assert torch.equal(trained_on.positions[:1], inferred.positions)
    assert torch.equal(trained_on.reasoning[:1], inferred.reasoning) and int(inferred.reasoning.sum()) == len(text_ids)
    torch.testing.assert_close(trained_on.states[:1], inferred.states, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        for block in model.head.blocks:
            block.cross_attention.attn.out_proj.weight.normal_(0, 0.3)
            block.adaLN_modulation[1].bias.normal_(0, 0.5)
        model.head.final.linear.weight.normal_(0, 0.5)

    def chunk(context: TokenContext) -> torch.Tensor:
        return model.sample_actions(reasoning.observation_embedding, reasoning.embedding, np.zeros(8),
                                    generator=torch.Generator().manual_seed(0), context=context)

    other = TokenContext(inferred.states + inferred.reasoning[..., None].float(), inferred.positions,
                         inferred.reasoning, inferred.valid)
    assert not torch.allclose(chunk(inferred), chunk(other))  # the reasoning's tokens steer the chunk
