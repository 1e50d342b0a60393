"""Training on the tiny preset: a real step moves the weights, resume equals an uninterrupted run,
stage 2 trains only the head on the model's own reasoning, and the outputs load back."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.train.checkpointing import latest_checkpoint
from chatvla2.train.config import config_from_dict
from chatvla2.train.frame_cache import CACHE_FILE, FrameEmbeddings
from chatvla2.train.stages import frame_embeddings, robot_batch
from chatvla2.train.trainer import Trainer, train


def weights(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if name.startswith(prefix)}


def test_stage1_step_updates_vlm_and_head_and_logs(tiny_config, tmp_path):
    trainer = Trainer(config_from_dict(tiny_config(tmp_path / "run")), show_progress=False)
    before_vlm, before_head = weights(trainer.model, "vlm."), weights(trainer.model, "head.")
    values = trainer.train_step(1)  # step 1 of seed 0 draws a robot batch (checked below)
    assert trainer.draw(1)[0] == "robot"
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values())
    assert values["lm_loss"] > 0 and values["diffusion_loss"] > 0
    changed_vlm = [n for n, w in weights(trainer.model, "vlm.").items() if not torch.equal(w, before_vlm[n])]
    changed_head = [n for n, w in weights(trainer.model, "head.").items() if not torch.equal(w, before_head[n])]
    assert any("language_model" in n for n in changed_vlm) and any("visual" in n for n in changed_vlm)
    assert changed_head
    # Action statistics come from the data, not the identity placeholder.
    assert trainer.model.action_stats.action_min.min() < -1.0


def test_arithmetic_facts_and_question_filter_shape_text_batches(tiny_config, tmp_path):
    from chatvla2.train.samples import ARITHMETIC

    raw = tiny_config(tmp_path / "run", **{"data.arithmetic_fraction": 0.5, "data.image_text_fraction": 0.9,
                                           "batch_size": 8})
    raw["data"]["image_text_dir"] = [raw["data"]["image_text_dir"]]  # a list of folders works too
    trainer = Trainer(config_from_dict(raw), show_progress=False)
    drawn = [trainer.draw(step) for step in range(40)]
    text = np.concatenate([positions for kind, positions in drawn if kind == "text"])
    assert 0.3 < np.mean(text < 0) < 0.7
    assert all((positions >= 0).all() for kind, positions in drawn if kind == "robot")
    fact = trainer.text_sample(-1)
    assert fact is ARITHMETIC[0] and fact.images == {}
    step = next(s for s, (kind, positions) in enumerate(drawn) if kind == "text" and (positions < 0).any()
                and (positions >= 0).any())
    values = trainer.train_step(step)  # a batch mixing images and text-only facts trains
    assert values["lm_loss_text"] > 0 and np.isfinite(values["loss"])
    only_board = Trainer(config_from_dict(tiny_config(tmp_path / "board", **{"data.questions": ["what does the board say?"]})),
                         show_progress=False)
    assert len(only_board.qa) == 2 and {only_board.qa.text_sample(i).answer for i in range(2)} == {"1 + 2"}
    with pytest.raises(ValueError, match="no image-text pair"):
        Trainer(config_from_dict(tiny_config(tmp_path / "none", **{"data.questions": ["how tall?"]})), show_progress=False)
    with pytest.raises(ValueError, match="arithmetic_fraction must be in"):
        config_from_dict(tiny_config(tmp_path / "bad", **{"data.arithmetic_fraction": 1.5}))
    with pytest.raises(ValueError, match="reasoning_text_fraction must be <= 1"):
        config_from_dict(tiny_config(tmp_path / "bad", **{"data.arithmetic_fraction": 0.6,
                                                          "data.reasoning_text_fraction": 0.6}))


def test_reasoning_text_facts_take_their_share_of_text_samples(tiny_config, tmp_path):
    from chatvla2.train.samples import ARITHMETIC, REASONING_TEXT

    raw = tiny_config(tmp_path / "run", **{"data.arithmetic_fraction": 0.2, "data.reasoning_text_fraction": 0.4,
                                           "data.image_text_fraction": 1.0, "batch_size": 8})
    trainer = Trainer(config_from_dict(raw), show_progress=False)
    text = np.concatenate([positions for _, positions in (trainer.draw(step) for step in range(100))])
    facts = -text[text < 0] - 1
    arithmetic, card_place = np.mean(facts < len(ARITHMETIC)) * np.mean(text < 0), np.mean(facts >= len(ARITHMETIC)) * np.mean(text < 0)
    assert abs(arithmetic - 0.2) < 0.06 and abs(card_place - 0.4) < 0.06, (arithmetic, card_place)
    lookup = trainer.text_sample(-len(ARITHMETIC) - 1)
    assert lookup is REASONING_TEXT[0] and lookup.images == {} and lookup.answer.startswith("the board says")


def test_full_run_writes_metrics_curves_and_a_loadable_model(tiny_config, tmp_path):
    final = train(config_from_dict(tiny_config(tmp_path / "run")), show_progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
    assert {"loss", "lr", "samples_per_s", "router_entropy_bits_l0"} <= set(rows[-1])
    assert (tmp_path / "run" / "metrics.csv").read_text().startswith("step,")
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000
    model = ChatVLA2Model.from_pretrained(final)
    assert model.config.preset == "tiny" and (final / "train_config.yaml").is_file()


def test_resume_continues_exactly_like_an_uninterrupted_run(tiny_config, tmp_path):
    straight = train(config_from_dict(tiny_config(tmp_path / "straight", steps=3)), show_progress=False)
    # The same run, interrupted after its first step (max_minutes=0), then resumed.
    train(config_from_dict(tiny_config(tmp_path / "split", steps=3, max_minutes=0)), show_progress=False)
    assert latest_checkpoint(tmp_path / "split").name == "step_000001"
    resumed = train(config_from_dict(tiny_config(tmp_path / "split", steps=3)), resume="auto", show_progress=False)
    a, b = ChatVLA2Model.from_pretrained(straight), ChatVLA2Model.from_pretrained(resumed)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6, msg=f"{name} differs after resume")
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_stage2_freezes_the_vlm_and_conditions_on_own_reasoning(tiny_config, tmp_path):
    stage1 = train(config_from_dict(tiny_config(tmp_path / "s1", steps=1)), show_progress=False)
    raw = tiny_config(tmp_path / "s2", stage=2, steps=1, **{"data.image_text_fraction": 0.0})
    raw["model"] = {"init_from": str(stage1)}
    trainer = Trainer(config_from_dict(raw), show_progress=False)
    before_vlm, before_head = weights(trainer.model, "vlm."), weights(trainer.model, "head.")
    values = trainer.train_step(0)
    assert set(values) == {"loss", "grad_norm", "diffusion_loss"}
    assert all(torch.equal(w, before_vlm[n]) for n, w in weights(trainer.model, "vlm.").items())
    assert any(not torch.equal(w, before_head[n]) for n, w in weights(trainer.model, "head.").items())
    # The reasoning the head was conditioned on is what the frozen model generated, cached per episode.
    assert trainer.cache.texts
    episode, text = next(iter(trainer.cache.texts.items()))
    assert text == trainer.model.generate_reasoning(trainer.dataset.first_frame(episode),
                                                    trainer.dataset.text[episode][0]).text


def test_stage2_frame_cache_gives_the_uncached_losses_and_is_reused_only_for_the_same_weights(tiny_config, tmp_path):
    stage1 = train(config_from_dict(tiny_config(tmp_path / "s1", steps=1)), show_progress=False)

    def stage2(name: str, cached: bool) -> Trainer:
        raw = tiny_config(tmp_path / name, stage=2, steps=3, **{"data.image_text_fraction": 0.0,
                                                                 "data.cache_frame_embeddings": cached})
        raw["model"] = {"init_from": str(stage1)}
        return Trainer(config_from_dict(raw), show_progress=False)

    plain = stage2("plain", False)  # one after the other: the diffusion noise comes from torch's RNG
    expected = [plain.train_step(step)["diffusion_loss"] for step in range(3)]
    cached = stage2("cached", True)
    assert plain.frames is None and len(cached.frames) == len(cached.dataset)
    losses = [cached.train_step(step)["diffusion_loss"] for step in range(3)]
    assert losses == pytest.approx(expected, rel=1e-4, abs=1e-6)  # same draws, embeddings, updates
    # Every frame was embedded with its episode's own reasoning.
    position = len(cached.dataset) - 1
    sample = cached.dataset.robot_sample(position)
    batch, state, _ = robot_batch(cached.model, [sample], [cached.cache.get(sample.episode)])
    observation, reasoning, context = frame_embeddings(cached.model, batch)
    assert context is None  # a head without token attention keeps no token states
    torch.testing.assert_close(cached.frames.observation[position], observation[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cached.frames.reasoning[position], reasoning[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cached.frames.state[position], state[0])
    # The saved file is reused by a run with the same weights, data and texts ...
    saved = tmp_path / "cached" / CACHE_FILE
    again = FrameEmbeddings.build(cached.model, cached.dataset, cached.cache.get, folder=saved.parent,
                                  show_progress=False)
    assert torch.equal(again.observation, cached.frames.observation)
    # ... and recomputed when the weights differ (here: one VLM weight nudged) or the file is torn.
    with torch.no_grad():
        next(cached.model.vlm.parameters()).add_(0.5)
    changed = FrameEmbeddings.build(cached.model, cached.dataset, cached.cache.get, folder=saved.parent,
                                    show_progress=False)
    assert not torch.equal(changed.observation, cached.frames.observation)
    saved.write_bytes(b"not a torch file")
    FrameEmbeddings.build(cached.model, cached.dataset, cached.cache.get, folder=saved.parent, show_progress=False)
    assert torch.equal(torch.load(saved, weights_only=True)["observation"], changed.observation)


def test_state_noise_perturbs_the_heads_state_by_the_data_spread_and_repeats_per_step(tiny_config, tmp_path):
    raw = tiny_config(tmp_path / "noise", **{"data.state_noise_std": 0.5})
    trainer = Trainer(config_from_dict(raw), show_progress=False)
    spread = torch.as_tensor(trainer.model.action_stats.state_std, dtype=torch.float32)
    state = torch.zeros(4000, spread.numel())
    noisy = trainer.noisy_state(state, step=3, rank=0)
    measured = noisy.std(dim=0) / spread.clamp_min(1e-8)
    assert torch.allclose(measured, torch.full_like(measured, 0.5), atol=0.03)  # 0.5 x each dimension's spread
    assert torch.equal(noisy, trainer.noisy_state(state, step=3, rank=0))  # a resumed run draws the same
    assert not torch.equal(noisy, trainer.noisy_state(state, step=4, rank=0))
    assert not torch.equal(noisy, trainer.noisy_state(state, step=3, rank=1))
    off = Trainer(config_from_dict(tiny_config(tmp_path / "off")), show_progress=False)
    assert off.noisy_state(state, step=3, rank=0) is state
    with pytest.raises(ValueError, match="state_noise_std must be >= 0"):
        config_from_dict(tiny_config(tmp_path / "bad", **{"data.state_noise_std": -0.1}))


def test_frame_cache_is_refused_outside_stage_2(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="cache_frame_embeddings is for stage 2"):
        config_from_dict(tiny_config(tmp_path / "s1", **{"data.cache_frame_embeddings": True}))


def test_ablation_overrides_reach_the_model(tiny_config, tmp_path):
    raw = tiny_config(tmp_path / "run", **{"model.moe_kind": "static", "model.reasoning_following": False})
    trainer = Trainer(config_from_dict(raw), show_progress=False)
    assert trainer.model.config.moe.kind == "static"
    assert trainer.model.head.condition_names() == ["observation"] * trainer.model.config.action_head.depth


def test_fresh_head_ablation_keeps_the_checkpoints_vlm_and_loads_back(tiny_config, tmp_path):
    stage1 = train(config_from_dict(tiny_config(tmp_path / "s1", steps=1)), show_progress=False)
    source = ChatVLA2Model.from_pretrained(stage1)
    raw = tiny_config(tmp_path / "s2", stage=2, steps=1, **{"data.image_text_fraction": 0.0})
    raw["model"] = {"init_from": str(stage1), "fresh_head": True, "reasoning_following": False}
    final = train(config_from_dict(raw), show_progress=False)
    ablation = ChatVLA2Model.from_pretrained(final)
    assert ablation.head.condition_names() == ["observation"] * ablation.config.action_head.depth
    assert all(torch.equal(w, weights(source, "vlm.")[n]) for n, w in weights(ablation, "vlm.").items())
    # Without fresh_head the same override contradicts the checkpoint's head.
    raw["model"] = {"init_from": str(stage1), "reasoning_following": False}
    with pytest.raises(ValueError, match="contradicts checkpoint"):
        Trainer(config_from_dict(raw), show_progress=False)
    with pytest.raises(ValueError, match="fresh_head needs model.init_from"):
        config_from_dict(tiny_config(tmp_path / "s3", **{"model.fresh_head": True}))


def test_crop_views_reach_a_fresh_model_and_must_match_a_checkpoint(tiny_config, tmp_path):
    crops = {"front_cards": {"camera": "front", "box": [0.5, 0.1, 0.8, 0.9], "size": [112, 56]}}
    raw = tiny_config(tmp_path / "run", **{"model.image_crops": crops, "steps": 1})
    trainer = Trainer(config_from_dict(raw), show_progress=False)
    assert [v.name for v in trainer.model.processor.crop_views] == ["front_cards"]
    assert np.isfinite(trainer.train_step(0)["loss"])  # a step with the view trains
    trainer.model.save_pretrained(tmp_path / "saved")
    changed = {"front_cards": {**crops["front_cards"], "size": [56, 56]}}
    later = tiny_config(tmp_path / "later", **{"model.init_from": str(tmp_path / "saved"), "model.image_crops": changed})
    with pytest.raises(ValueError, match="contradicts checkpoint"):
        Trainer(config_from_dict(later), show_progress=False)


def test_missing_episode_folder_is_named(tiny_config, tmp_path):
    raw = tiny_config(tmp_path / "run", **{"data.episodes_dir": str(tmp_path / "nowhere")})
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Trainer(config_from_dict(raw), show_progress=False)


def test_image_text_only_warm_up_draws_no_robot_batch(tiny_config, tmp_path):
    trainer = Trainer(config_from_dict(tiny_config(tmp_path / "warm", **{"data.image_text_fraction": 1.0})),
                      show_progress=False)
    assert {trainer.draw(step)[0] for step in range(30)} == {"text"}
    with pytest.raises(ValueError, match="image_text_fraction must be in"):
        config_from_dict(tiny_config(tmp_path / "bad", **{"data.image_text_fraction": 1.2}))


def test_eval_table_breaks_success_down_by_answer_place():
    from chatvla2.train.evaluate import PolicyScores, markdown_table

    row = PolicyScores("habit", episodes={"heldout": 4, "cardswap": 2}, successes={"heldout": 2, "cardswap": 0},
                       reasoning_correct={"heldout": 0, "cardswap": 0},
                       by_place={"heldout": {0: [2, 2], 1: [0, 1], 2: [0, 1]}, "cardswap": {2: [0, 2]}})
    table = markdown_table([row])
    assert "held-out success by answer place" in table.splitlines()[0]
    assert "| 2/4 (50%) | 1st 2/2, 2nd 0/1, 3rd 0/1 |" in table


def test_counterfactual_rows_teach_the_place_from_the_written_row(tiny_config, tmp_path):
    from chatvla2.train.stages import counterfactual_row

    rng = np.random.default_rng(0)
    reasoning = "the board says 3 + 4; 3 + 4 = 7; the cards say 2 7 5; the card 7 is second from the left"
    for _ in range(20):
        text, prefix = counterfactual_row(reasoning, rng)
        row = prefix.split("the cards say ")[1].rstrip(";").split()
        assert text.startswith("the board says 3 + 4; 3 + 4 = 7; the cards say ") and row != ["2", "7", "5"]
        assert sorted(row) == ["2", "5", "7"]
        assert text == f"{prefix} the card 7 is {('first', 'second', 'third')[row.index('7')]} from the left"
    assert counterfactual_row("the toy is first from the left; put the toy left of the cup", rng) is None
    raw = tiny_config(tmp_path / "run", **{"data.counterfactual_row_fraction": 1.0, "data.image_text_fraction": 0.0})
    trainer = Trainer(config_from_dict(raw), show_progress=False)
    samples = [trainer.dataset.robot_sample(i) for i in range(4)]
    targets, unscored, mask = trainer.counterfactuals(samples, 0, None)
    assert all(t != s.reasoning for t, s in zip(targets, samples)) and mask.tolist() == [0.0] * 4
    values = trainer.train_step(0)
    assert values["diffusion_loss"] == 0.0 and values["lm_loss"] > 0, "no action loss, the place still scored"


def test_named_card_episodes_train_the_head_on_their_place_and_are_refused_in_stage_1(tiny_config, train_data, tmp_path):
    from chatvla2.data.episodes import Episode, read_episode, write_episode
    from chatvla2.train.stages import head_reasoning, names_other_card

    answer = "the board says 3 + 4; 3 + 4 = 7; the cards say 2 7 5; the card 7 is second from the left"
    named = "the board says 3 + 4; 3 + 4 = 7; the cards say 2 7 5; the card 5 is third from the left"
    assert not names_other_card(answer) and names_other_card(named)
    misread = "the board says 3 + 4; 3 + 4 = 7; the cards say 2 1 5; the card 7 is first from the left"
    assert head_reasoning(misread, answer) == misread, "an answer episode keeps the model's own text"
    assert head_reasoning(misread, named) == ("the board says 3 + 4; 3 + 4 = 7; the cards say 2 1 5; "
                                              "the card 5 is third from the left")
    assert head_reasoning("the board says", named) == named
    folder = tmp_path / "named"
    folder.mkdir()
    source = read_episode(next(train_data["episodes"].glob("*.hdf5")))
    row = source.reasoning.split("the cards say ")[1].split(";")[0].split()
    other = row[2]
    text = source.reasoning.rsplit("; the card ", 1)[0] + f"; the card {other} is third from the left"
    write_episode(folder / "named_math_train_000000.hdf5", Episode(**{**source.__dict__, "reasoning": text}))
    folders = [str(train_data["episodes"]), str(folder)]
    with pytest.raises(ValueError, match="1 episode\\(s\\) are named-card episodes"):
        Trainer(config_from_dict(tiny_config(tmp_path / "s1", **{"data.episodes_dir": folders})), show_progress=False)
    stage1 = train(config_from_dict(tiny_config(tmp_path / "s1", steps=1)), show_progress=False)
    raw = tiny_config(tmp_path / "s2", stage=2, steps=1, **{"data.image_text_fraction": 0.0, "data.episodes_dir": folders})
    raw["model"] = {"init_from": str(stage1)}
    trainer = Trainer(config_from_dict(raw), show_progress=False)
    episode = next(e for e in range(trainer.dataset.episode_count) if names_other_card(trainer.dataset.text[e][1]))
    assert trainer.cache.get(episode).endswith(f"; the card {other} is third from the left")
    assert np.isfinite(trainer.train_step(0)["loss"])


def test_stage2_adds_token_attention_to_a_checkpoints_head_and_caches_token_states(tiny_config, tmp_path):
    stage1 = train(config_from_dict(tiny_config(tmp_path / "s1", steps=1)), show_progress=False)

    def stage2(name: str, cached: bool, attending: bool | None = True, steps: int = 2) -> dict:
        raw = tiny_config(tmp_path / name, stage=2, steps=steps, **{"data.image_text_fraction": 0.0,
                                                                     "data.cache_frame_embeddings": cached})
        raw["model"] = {"init_from": str(stage1), "token_attention": attending}
        return raw

    plain = Trainer(config_from_dict(stage2("plain", False)), show_progress=False)
    assert plain.model.head.config.token_attention and plain.model.config.action_head.token_attention
    expected = [plain.train_step(step)["diffusion_loss"] for step in range(2)]
    without = Trainer(config_from_dict(stage2("without", False, attending=None)), show_progress=False)
    assert without.train_step(0)["diffusion_loss"] == pytest.approx(expected[0], rel=1e-5)  # the new layers start at zero output
    cached = Trainer(config_from_dict(stage2("cached", True)), show_progress=False)
    states = cached.frames.context["context_states"]
    assert states.dtype == torch.float16 and states.shape[0] == len(cached.dataset)
    assert cached.frames.context["context_reasoning"].any(dim=1).all()  # every frame has its reasoning tokens
    losses = [cached.train_step(step)["diffusion_loss"] for step in range(2)]
    assert losses == pytest.approx(expected, rel=1e-3)  # float16 token states, otherwise the same steps
    assert any(block.cross_attention.attn.out_proj.weight.abs().sum() > 0 for block in cached.model.head.blocks)
    final = train(config_from_dict(stage2("final", True, steps=1)), show_progress=False)
    loaded = ChatVLA2Model.from_pretrained(final)
    assert loaded.config.action_head.token_attention and loaded.head.context_encoder is not None
    refused = stage2("refused", False, attending=False)
    refused["model"]["init_from"] = str(final)
    with pytest.raises(ValueError, match="token_attention false contradicts checkpoint"):
        Trainer(config_from_dict(refused), show_progress=False)


def test_stage2_trains_a_target_locator_on_each_episodes_named_card(tiny_config, scene_episode, tmp_path):
    from chatvla2.train.locator_targets import named_card, normalised_position

    folder = tmp_path / "scenes"
    folder.mkdir()
    for seed in (1, 2):
        scene_episode(folder / f"math_train_{seed:06d}.hdf5", seed)
    scene_episode(folder / "named_math_train_000003.hdf5", 3, named_place=2)
    stage1 = train(config_from_dict(tiny_config(tmp_path / "s1", steps=1)), show_progress=False)

    def stage2(name: str, locating: bool | None = True, steps: int = 2) -> dict:
        raw = tiny_config(tmp_path / name, stage=2, steps=steps, **{"data.image_text_fraction": 0.0,
                                                                     "data.episodes_dir": str(folder),
                                                                     "data.cache_frame_embeddings": True})
        raw["model"] = {"init_from": str(stage1), "target_locator": locating}
        return raw

    trainer = Trainer(config_from_dict(stage2("locating")), show_progress=False)
    assert trainer.model.config.action_head.target_locator and trainer.frames.context is not None
    truth = trainer.locator_truth
    for position in (0, len(trainer.dataset) - 1):  # each frame carries its episode's named card
        episode = trainer.dataset.chunks.index[trainer.dataset.positions[position]][0]
        card = named_card(trainer.dataset.chunks.episodes[episode].path)
        np.testing.assert_allclose(truth.position[position].numpy(), normalised_position(card.pos_m), atol=1e-6)
    assert (truth.token >= 0).all()
    before_vlm, before_locator = weights(trainer.model, "vlm."), weights(trainer.model, "head.locator.")
    values = trainer.train_step(0)
    assert {"diffusion_loss", "locator_loss", "locator_pointer_accuracy", "locator_error_rms"} <= set(values)
    assert values["loss"] == pytest.approx(values["diffusion_loss"] + values["locator_loss"], rel=1e-4)
    assert all(torch.equal(w, before_vlm[n]) for n, w in weights(trainer.model, "vlm.").items())
    assert all(not torch.equal(w, before_locator[n]) for n, w in weights(trainer.model, "head.locator.").items()
               if n.endswith("readout.3.weight"))
    final = train(config_from_dict(stage2("final", steps=1)), show_progress=False)
    loaded = ChatVLA2Model.from_pretrained(final).eval()
    assert loaded.head.locator is not None
    images = trainer.dataset.first_frame(0)
    reasoning = loaded.generate_reasoning(images, trainer.dataset.text[0][0], max_new_tokens=6)
    assert reasoning.context is not None
    chunk = loaded.sample_actions(reasoning.observation_embedding, reasoning.embedding, np.zeros(8, np.float32),
                                  generator=torch.Generator().manual_seed(0), context=reasoning.context)
    assert torch.isfinite(chunk).all()
    refused = stage2("refused", locating=False)
    refused["model"]["init_from"] = str(final)
    with pytest.raises(ValueError, match="target_locator false contradicts checkpoint"):
        Trainer(config_from_dict(refused), show_progress=False)


def test_a_digit_and_place_locator_gets_each_named_cards_digit_and_place_and_mismatched_pooled_reasoning(tiny_config, scene_episode, tmp_path):
    from chatvla2.sim.tasks.math_cards import sample_math_scene

    folder = tmp_path / "scenes"
    folder.mkdir()
    scene_episode(folder / "math_train_000001.hdf5", 1)
    scene_episode(folder / "named_math_train_000003.hdf5", 3, named_place=2)
    stage1 = train(config_from_dict(tiny_config(tmp_path / "s1", steps=1)), show_progress=False)

    def stage2(name: str, query: str, init_from, locating: bool = True) -> dict:
        raw = tiny_config(tmp_path / name, stage=2, steps=1, **{"data.image_text_fraction": 0.0,
                                                                "data.episodes_dir": str(folder),
                                                                "data.cache_frame_embeddings": True,
                                                                "data.mismatched_reasoning_fraction": 0.5})
        raw["model"] = {"init_from": str(init_from), "target_locator": locating, "locator_query": query}
        return raw

    trainer = Trainer(config_from_dict(stage2("named", "digit-and-place", stage1)), show_progress=False)
    assert trainer.model.config.action_head.locator_query == "digit-and-place"
    names = trainer.locator_truth.names
    expected = {"math_train_000001.hdf5": sample_math_scene(1, "train").answer_card,
                "named_math_train_000003.hdf5": sample_math_scene(3, "train").cards[2]}
    for position in range(len(trainer.dataset)):
        episode = trainer.dataset.chunks.index[trainer.dataset.positions[position]][0]
        scene_name = trainer.dataset.chunks.episodes[episode].path.name
        card = expected[scene_name]
        place = sample_math_scene(int(scene_name[-11:-5]), "train").cards.index(card)  # cards left to right
        assert names[position].tolist() == [card.digit, place]
    values = trainer.train_step(0)
    assert 0.0 <= values["locator_name_accuracy"] <= 1.0
    # half of the rows get another row's pooled reasoning, drawn per step as a resumed run would
    pooled = torch.arange(64 * 3, dtype=torch.float32).reshape(64, 3)
    mismatched = trainer.mismatched_reasoning(pooled, step=3, rank=0)
    changed = (mismatched != pooled).any(dim=1)
    assert 0.3 < float(changed.float().mean()) < 0.7
    assert all(any(torch.equal(mismatched[row], pooled[other]) for other in range(64) if other != row)
               for row in torch.nonzero(changed).flatten().tolist())
    assert torch.equal(mismatched, trainer.mismatched_reasoning(pooled, step=3, rank=0))
    assert not torch.equal(mismatched, trainer.mismatched_reasoning(pooled, step=4, rank=0))
    with pytest.raises(ValueError, match="only a head with a target locator"):
        Trainer(config_from_dict(stage2("no_locator", "digit-and-place", stage1, locating=False)), show_progress=False)
    with pytest.raises(ValueError, match="mismatched_reasoning_fraction is for stage 2"):
        config_from_dict(tiny_config(tmp_path / "s1_bad", **{"data.mismatched_reasoning_fraction": 0.5}))
    final = train(config_from_dict(stage2("named_final", "digit-and-place", stage1)), show_progress=False)
    assert ChatVLA2Model.from_pretrained(final).config.action_head.locator_query == "digit-and-place"
    with pytest.raises(ValueError, match="locator_query 'clause' contradicts checkpoint"):
        Trainer(config_from_dict(stage2("refused", "clause", final)), show_progress=False)


def test_a_continued_model_widens_its_action_range_to_cover_the_new_data(tiny_config, tmp_path):
    """The sampler clips into the checkpoint's action range: continued on data that leaves it, the
    model must widen the range, or it can never reach those actions (v10's fourth-slot grasps)."""
    from chatvla2.model.normalization import ActionStats

    stage1 = train(config_from_dict(tiny_config(tmp_path / "s1", steps=1)), show_progress=False)
    fitted = ActionStats.load(stage1 / "action_stats.json", 8, 8)
    narrow = ActionStats(fitted.action_min * 0.5 + fitted.action_max * 0.5 - 0.01, fitted.action_max.copy(),
                         fitted.state_mean, fitted.state_std)
    narrow.action_max[3] = fitted.action_max[3] + 1.0  # wider than the data: stays as it is
    narrow.save(stage1 / "action_stats.json")
    raw = tiny_config(tmp_path / "s2", stage=2, steps=1, **{"data.image_text_fraction": 0.0})
    raw["model"] = {"init_from": str(stage1)}
    trainer = Trainer(config_from_dict(raw), show_progress=False)
    stats = trainer.model.action_stats
    _, actions = trainer.dataset.all_states_and_actions()
    np.testing.assert_allclose(stats.action_min, np.minimum(narrow.action_min, actions.min(axis=0)))
    assert (stats.action_min <= actions.min(axis=0)).all() and (stats.action_max >= actions.max(axis=0)).all()
    assert stats.action_max[3] == narrow.action_max[3]
    np.testing.assert_array_equal(stats.state_mean, narrow.state_mean)  # the head was trained with these
    np.testing.assert_array_equal(stats.state_std, narrow.state_std)
