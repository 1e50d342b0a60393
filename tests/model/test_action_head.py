import copy

import pytest
import torch

from chatvla2.model.action_head import ReasoningFollowingHead, TokenContext, add_token_attention
from chatvla2.model.config import ActionHeadConfig
from chatvla2.model.diffusion import NoiseScheduler

EMBED = 24


def head(following=True, depth=4):
    torch.manual_seed(0)
    return ReasoningFollowingHead(ActionHeadConfig(width=32, depth=depth, num_heads=4, horizon=16, action_dim=8,
                                                   state_dim=8, reasoning_following=following), EMBED)


def randomise_modulation(model):
    """AdaLN-zero starts every block as the identity; give the modulation weights values so the
    conditions actually flow (as they do after training)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in list(model.blocks) + [model.final]:
            for parameter in module.adaLN_modulation.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
        model.final.linear.weight.copy_(torch.randn(model.final.linear.weight.shape, generator=generator) * 0.2)


def inputs(batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 16, 8, generator=g), torch.randint(0, 100, (batch,), generator=g),
            torch.randn(batch, 8, generator=g), torch.randn(batch, EMBED, generator=g),
            torch.randn(batch, EMBED, generator=g))


def block_outputs(model, args):
    """Hidden states after every block."""
    outputs = []
    hooks = [block.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach())) for block in model.blocks]
    final = model(*args)
    for hook in hooks:
        hook.remove()
    return outputs, final


def test_second_half_follows_the_reasoning_embedding():
    model = head(following=True).eval()
    randomise_modulation(model)
    assert model.condition_names() == ["observation", "observation", "reasoning", "reasoning"]
    args = inputs()
    other_reasoning = args[:4] + (args[4] + 1.0,)
    first, final_a = block_outputs(model, args)
    second, final_b = block_outputs(model, other_reasoning)
    torch.testing.assert_close(first[0], second[0])  # first half: reasoning has no influence
    torch.testing.assert_close(first[1], second[1])
    assert not torch.allclose(first[2], second[2])  # second half: it does
    assert not torch.allclose(final_a, final_b)


def test_flag_off_conditions_every_block_on_the_observation():
    model = head(following=False).eval()
    randomise_modulation(model)
    assert model.condition_names() == ["observation"] * 4
    args = inputs()
    _, final_a = block_outputs(model, args)
    _, final_b = block_outputs(model, args[:4] + (args[4] + 1.0,))
    torch.testing.assert_close(final_a, final_b)  # reasoning ignored entirely
    _, final_c = block_outputs(model, args[:3] + (args[3] + 1.0, args[4]))
    assert not torch.allclose(final_a, final_c)  # ...while the observation still matters


def test_same_weights_different_flag_route_second_half_differently():
    following = head(following=True).eval()
    randomise_modulation(following)
    blind = copy.deepcopy(following)
    blind.config = ActionHeadConfig(**{**following.config.__dict__, "reasoning_following": False})
    args = inputs()
    out_following, _ = block_outputs(following, args)
    out_blind, _ = block_outputs(blind, args)
    torch.testing.assert_close(out_following[1], out_blind[1])
    assert not torch.allclose(out_following[2], out_blind[2])


def test_head_overfits_a_small_batch():
    torch.manual_seed(0)
    model = head(following=True, depth=2).train()
    scheduler = NoiseScheduler(100)
    g = torch.Generator().manual_seed(0)
    actions = torch.rand(4, 16, 8, generator=g) * 2 - 1
    state, obs, reasoning = torch.randn(4, 8, generator=g), torch.randn(4, EMBED, generator=g), torch.randn(4, EMBED, generator=g)
    # a fixed set of (noise, timestep) pairs: the batch the head must memorise
    noise = torch.randn(4, 16, 8, generator=g)
    timesteps = torch.randint(0, 100, (4,), generator=g)
    noisy = scheduler.add_noise(actions, noise, timesteps)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(120):
        loss = torch.nn.functional.mse_loss(model(noisy, timesteps, state, obs, reasoning), noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


def test_ddim_sampling_is_deterministic_with_a_seed():
    model = head().eval()
    randomise_modulation(model)
    scheduler = NoiseScheduler(100)
    _, _, state, obs, reasoning = inputs(batch=2)

    def predict(sample, t):
        return model(sample, t, state, obs, reasoning)

    run = lambda seed: scheduler.ddim_sample(predict, (2, 16, 8), 10, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(run(3), run(3), rtol=0, atol=0)
    assert not torch.allclose(run(3), run(4))
    assert run(3).abs().max() <= 1.0 + 1e-6  # clipped to the normalised action range
    assert scheduler.inference_timesteps(10) == [90, 80, 70, 60, 50, 40, 30, 20, 10, 0]


def test_precomputed_denoiser_matches_the_head_called_per_step():
    """Sampling computes every step's conditions and modulations up front; the noise predictions
    and the sampled chunk must be those of the plain per-step head."""
    for following in (True, False):
        model = head(following).eval()
        randomise_modulation(model)
        scheduler = NoiseScheduler(100)
        noisy, _, state, obs, reasoning = inputs(batch=3)
        timesteps = scheduler.inference_timesteps(10)
        predict = model.denoiser(timesteps, state, obs, reasoning)
        for step in (timesteps[0], timesteps[4], timesteps[-1]):
            t = torch.full((3,), step)
            torch.testing.assert_close(predict(noisy, t), model(noisy, t, state, obs, reasoning), rtol=1e-5, atol=1e-6)
        per_step = scheduler.ddim_sample(lambda x, t: model(x, t, state, obs, reasoning), (3, 16, 8), 10,
                                         torch.Generator().manual_seed(5))
        prepared = scheduler.ddim_sample(predict, (3, 16, 8), 10, torch.Generator().manual_seed(5))
        torch.testing.assert_close(prepared, per_step, rtol=1e-5, atol=1e-5)


def token_context(batch=3, prompt=7, reasoning=4, seed=3) -> TokenContext:
    g = torch.Generator().manual_seed(seed)
    length = prompt + reasoning
    positions = torch.randint(0, 60, (batch, length, 3), generator=g)
    is_reasoning = (torch.arange(length) >= prompt).expand(batch, length).clone()
    return TokenContext(torch.randn(batch, length, EMBED, generator=g), positions, is_reasoning,
                        torch.ones(batch, length, dtype=torch.bool))


def with_states(context: TokenContext, change: torch.Tensor) -> TokenContext:
    """The same context with `change` added to the states where change's mask (B, T) is True."""
    return TokenContext(context.states + change[..., None].float(), context.positions, context.reasoning,
                        context.valid)


def open_cross_attention(model):
    """Token attention starts with its output projection at zero; give it values (as training does)."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for block in model.blocks:
            out = block.cross_attention.attn.out_proj
            out.weight.copy_(torch.randn(out.weight.shape, generator=generator) * 0.2)


def test_token_attention_starts_as_the_head_it_was_added_to_and_then_reads_the_tokens():
    plain = head().eval()
    randomise_modulation(plain)
    attending = add_token_attention(plain, EMBED).eval()
    assert attending.config.token_attention and not plain.config.token_attention
    args, context = inputs(), token_context()
    torch.testing.assert_close(attending(*args, context), plain(*args))  # output projection at zero: the same numbers
    with pytest.raises(ValueError, match="TokenContext"):
        attending(*args)
    open_cross_attention(attending)
    prompt_changed = with_states(context, ~context.reasoning)
    assert not torch.allclose(attending(*args, context), attending(*args, prompt_changed))


def test_observation_blocks_read_prompt_tokens_and_reasoning_blocks_the_reasoning_too():
    model = add_token_attention(head(following=True), EMBED).eval()
    randomise_modulation(model)
    open_cross_attention(model)
    args, context = inputs(), token_context()
    reasoning_changed = with_states(context, context.reasoning)
    first, final_a = block_outputs(model, args + (context,))
    second, final_b = block_outputs(model, args + (reasoning_changed,))
    torch.testing.assert_close(first[1], second[1])  # observation half: reasoning tokens unseen
    assert not torch.allclose(first[2], second[2]) and not torch.allclose(final_a, final_b)
    blind = add_token_attention(head(following=False), EMBED).eval()  # the ablation sees no reasoning at all
    randomise_modulation(blind)
    open_cross_attention(blind)
    torch.testing.assert_close(blind(*args, context), blind(*args, reasoning_changed))


def test_padding_tokens_and_precomputed_sampling_change_nothing():
    model = add_token_attention(head(), EMBED).eval()
    randomise_modulation(model)
    open_cross_attention(model)
    args, context = inputs(), token_context()
    g = torch.Generator().manual_seed(9)
    padded = TokenContext(torch.cat([context.states, torch.randn(3, 5, EMBED, generator=g)], dim=1),
                          torch.cat([context.positions, torch.randint(0, 60, (3, 5, 3), generator=g)], dim=1),
                          torch.cat([context.reasoning, torch.zeros(3, 5, dtype=torch.bool)], dim=1),
                          torch.cat([context.valid, torch.zeros(3, 5, dtype=torch.bool)], dim=1))
    torch.testing.assert_close(model(*args, padded), model(*args, context), rtol=1e-5, atol=1e-6)
    sample, timesteps, state, observation, reasoning = args
    predict = model.denoiser([int(timesteps[0])], state, observation, reasoning, context)
    same_step = timesteps[:1].expand(3)
    torch.testing.assert_close(predict(sample, same_step), model(sample, same_step, state, observation, reasoning, context))


def test_token_context_refuses_mismatched_shapes_and_rows_without_prompt():
    context = token_context()
    with pytest.raises(ValueError, match="positions"):
        TokenContext(context.states, context.positions[..., :2], context.reasoning, context.valid)
    with pytest.raises(ValueError, match="at least one prompt token"):
        TokenContext(context.states, context.positions, torch.ones_like(context.reasoning), context.valid)


def test_without_pooled_embeddings_the_head_reads_the_vlm_only_through_its_tokens():
    config = ActionHeadConfig(width=32, depth=4, num_heads=4, horizon=16, action_dim=8, state_dim=8,
                              token_attention=True, pooled_embeddings=False)
    torch.manual_seed(0)
    model = ReasoningFollowingHead(config, EMBED).eval()
    randomise_modulation(model)
    open_cross_attention(model)
    args, context = inputs(), token_context()
    other_means = args[:3] + (args[3] + 1.0, args[4] + 1.0)
    torch.testing.assert_close(model(*args, context), model(*other_means, context))
    assert not torch.allclose(model(*args, context), model(*args, with_states(context, context.reasoning)))
    with pytest.raises(ValueError, match="pooled_embeddings: false needs token_attention"):
        ActionHeadConfig(pooled_embeddings=False)
