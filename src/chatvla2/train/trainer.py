"""The training loop shared by both stages, on 1 CPU, 1 GPU or many processes (torchrun; DDP, or
FSDP2 for stage 1 with `distributed: fsdp`, see fsdp.py).

Each step every process draws its own `batch_size` samples (indices from a generator seeded by
(seed, step, rank), so a resumed run draws exactly what an uninterrupted one would) and all
processes agree on the batch kind (image-text or robot, from a generator seeded by (seed, step)).
AdamW, linear warm-up then cosine decay, gradient clipping. Rank 0 shows a tqdm bar with loss and
throughput, writes metrics (metrics.jsonl/csv, TensorBoard if installed), saves resumable
checkpoints every `checkpoint_every` steps and the final model in Hugging Face layout under
`<out_dir>/final`, with the curves as `<out_dir>/curves.png`.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from chatvla2.model.action_head import add_head_parts
from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.model.normalization import ActionStats
from chatvla2.train import checkpointing, distributed, fsdp
from chatvla2.train.config import TrainConfig
from chatvla2.train.metrics import MetricsLogger, plot_curves
from chatvla2.train.samples import ARITHMETIC, REASONING_TEXT, TEXT_FACTS, RobotTrainingSet, QATrainingSet
from chatvla2.train.frame_cache import FrameEmbeddings
from chatvla2.train.locator_targets import locator_targets
from chatvla2.train.stages import (HeadTrainingStep, OwnReasoningCache, counterfactual_row, frame_embeddings,
                                   freeze_vlm, names_other_card, robot_batch, text_batch)

LOG = logging.getLogger(__name__)


def build_model(config: TrainConfig, resume_dir: Path | None) -> ChatVLA2Model:
    """From the resume checkpoint, else `init_from`, else a fresh preset with the ablation overrides."""
    source = resume_dir or (Path(config.model.init_from) if config.model.init_from else None)
    if source is not None:
        model = ChatVLA2Model.from_pretrained(source)
        if resume_dir is None and config.model.fresh_head:
            replace_head(model, config)
        if resume_dir is None:
            apply_overrides(model, config)
        return model
    if config.model.dense_backbone:
        from chatvla2.model.config import preset

        base = preset(config.model.preset)
        override_config(base, config)
        return ChatVLA2Model.upcycle_from_dense(config.model.dense_backbone, base,
                                                copy_experts=config.model.upcycle_experts)
    from chatvla2.model.config import preset

    base = preset(config.model.preset)
    override_config(base, config)
    return ChatVLA2Model.from_preset(config.model.preset, moe=base.moe, action_head=base.action_head,
                                     image_crops=base.image_crops)


# `model.<field>` overrides of the action head's config (train/config.py ModelSection), by name.
HEAD_OVERRIDES = ("reasoning_following", "token_attention", "pooled_embeddings", "target_locator", "locator_query")


def head_overrides(config: TrainConfig) -> dict:
    return {name: getattr(config.model, name) for name in HEAD_OVERRIDES if getattr(config.model, name) is not None}


def override_config(base, config: TrainConfig) -> None:
    """A fresh model's config with the training config's `model.*` overrides."""
    if config.model.moe_kind is not None:
        base.moe = dataclasses.replace(base.moe, kind=config.model.moe_kind)
    base.action_head = dataclasses.replace(base.action_head, **head_overrides(config))
    if config.model.locator_loss_weight is not None:
        base.locator_loss_weight = config.model.locator_loss_weight
    if config.model.image_crops is not None:
        base.image_crops = dict(config.model.image_crops)


def replace_head(model: ChatVLA2Model, config: TrainConfig) -> None:
    """`model.fresh_head`: a randomly initialised action head (with the head overrides, if any) on
    the checkpoint's VLM, e.g. a head ablation trained in stage 2 on the very VLM the full model
    was trained with."""
    from chatvla2.model.action_head import ReasoningFollowingHead

    head = dataclasses.replace(model.config.action_head, **head_overrides(config))
    model.config.action_head = head
    model.head = ReasoningFollowingHead(head, model.config.text_hidden_size).to(model.device)


def apply_overrides(model: ChatVLA2Model, config: TrainConfig) -> None:
    """A checkpoint's architecture is fixed: an override that contradicts it is an error. The
    additions allowed are `model.token_attention: true` and `model.target_locator: true` on a head
    without them: the head gains the part with a zero output (`add_head_parts`), so it starts from
    what it computed."""
    if config.model.moe_kind not in (None, model.config.moe.kind):
        raise ValueError(f"model.moe_kind '{config.model.moe_kind}' contradicts checkpoint "
                         f"'{config.model.init_from}' (moe.kind '{model.config.moe.kind}')")
    wanted = config.model.reasoning_following
    if wanted is not None and wanted != model.config.action_head.reasoning_following:
        raise ValueError(f"model.reasoning_following {wanted} contradicts checkpoint '{config.model.init_from}'")
    query = config.model.locator_query
    if query is not None and query != model.config.action_head.locator_query:
        if model.config.action_head.target_locator:
            raise ValueError(f"model.locator_query '{query}' contradicts checkpoint '{config.model.init_from}' "
                             f"(its locator's query is '{model.config.action_head.locator_query}')")
        model.config.action_head = model.head.config = dataclasses.replace(model.config.action_head,
                                                                           locator_query=query)
    for part in ("token_attention", "target_locator"):
        wanted = getattr(config.model, part)
        if wanted is False and getattr(model.config.action_head, part):
            raise ValueError(f"model.{part} false contradicts checkpoint '{config.model.init_from}'")
        if wanted and not getattr(model.config.action_head, part):
            model.head = add_head_parts(model.head, model.config.text_hidden_size, **{part: True})
            model.config.action_head = model.head.config
    if config.model.locator_loss_weight is not None:
        model.config.locator_loss_weight = config.model.locator_loss_weight
    if config.model.pooled_embeddings is not None:  # which inputs condition AdaLN, not a weight's shape
        head = dataclasses.replace(model.config.action_head, pooled_embeddings=config.model.pooled_embeddings)
        model.config.action_head = model.head.config = head
    if config.model.image_crops is not None and dict(config.model.image_crops) != model.config.image_crops:
        raise ValueError(f"model.image_crops {config.model.image_crops} contradicts checkpoint "
                         f"'{config.model.init_from}' ({model.config.image_crops})")


def covering_action_range(stats: ActionStats, dataset: RobotTrainingSet) -> ActionStats:
    """`stats` with each action dimension's [min, max] widened to hold every action of `dataset`.
    The sampler clips actions into the checkpoint's range, so a model continued on data that
    leaves it (v10's fourth-slot grasps on v6's range, CHANGELOG.md v10-v12) could never reach those
    actions; the state's mean and spread stay, as the head was trained with them."""
    _, actions = dataset.all_states_and_actions()
    low = np.minimum(stats.action_min, actions.min(axis=0))
    high = np.maximum(stats.action_max, actions.max(axis=0))
    widened = [i for i in range(low.size) if low[i] < stats.action_min[i] or high[i] > stats.action_max[i]]
    if widened:
        LOG.info("action range widened to cover the data in dimensions %s: [%s] .. [%s]", widened,
                 ", ".join(f"{v:.3f}" for v in low), ", ".join(f"{v:.3f}" for v in high))
    return ActionStats(low, high, stats.state_mean, stats.state_std)


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: ChatVLA2Model, config: TrainConfig) -> torch.optim.Optimizer:
    optim = config.optim
    head = [p for p in model.head.parameters() if p.requires_grad]
    vlm = [p for p in model.vlm.parameters() if p.requires_grad]
    groups = [{"params": head, "lr": optim.head_lr or optim.lr}]
    if vlm:
        groups.append({"params": vlm, "lr": optim.lr})
    return torch.optim.AdamW(groups, betas=optim.betas, weight_decay=optim.weight_decay)


def routing_metrics(model: ChatVLA2Model) -> dict[str, float]:
    return {f"router_entropy_bits_l{index}": stats.load_entropy_bits
            for index, stats in enumerate(model.routing_stats())}


def refuse_named_card_episodes(dataset: RobotTrainingSet) -> None:
    """Stage 1 scores the reasoning: a named-card episode's annotation names a card that is not the
    answer, and would teach the language model to do so."""
    named = [str(info.path) for info, (_, reasoning) in zip(dataset.chunks.episodes, dataset.text)
             if names_other_card(reasoning)]
    if named:
        raise ValueError(f"stage 1 trains the reasoning, but {len(named)} episode(s) are named-card episodes "
                         f"whose reasoning names a card other than the answer (e.g. {named[0]}): give them "
                         "to stage 2 only")


class Trainer:
    def __init__(self, config: TrainConfig, resume: str | None = None, show_progress: bool = True) -> None:
        self.config = config
        torch.set_num_threads(config.num_threads)
        self.sharded = config.distributed == "fsdp"
        self.context = distributed.init_distributed(config.device, always_group=self.sharded)
        self.resume_dir = checkpointing.resolve_resume(resume, config.out_dir)
        torch.manual_seed(config.seed)  # the same initial weights in every process and every rerun
        self.model = build_model(config, self.resume_dir).to(self.context.device)
        head_config = self.model.config.action_head
        self.dataset = RobotTrainingSet(config.data.episodes_dir, config.data.cameras, head_config.horizon,
                                      config.data.frame_stride)
        if config.stage == 1:
            refuse_named_card_episodes(self.dataset)
        self.qa = QATrainingSet(config.data.image_text_dir, config.data.questions) if config.stage == 1 and config.data.image_text_fraction > 0 else None
        state = checkpointing.load_trainer_state(self.resume_dir) if self.resume_dir else None
        if state is None and config.model.init_from is None:  # a fresh model learns the data's ranges
            states, actions = self.dataset.all_states_and_actions()
            self.model.set_action_stats(ActionStats.from_data(actions, states))
        elif state is None:  # a continued model keeps its scaling, widened to cover this data's actions
            self.model.set_action_stats(covering_action_range(self.model.action_stats, self.dataset))
        self.cache, self.frames = None, None
        if config.stage == 2:
            if config.data.mismatched_reasoning_fraction > 0 and self.model.head.locator is None:
                raise ValueError("data.mismatched_reasoning_fraction takes the place from the head's pooled "
                                 "reasoning; only a head with a target locator still learns where to go")
            freeze_vlm(self.model)
            self.cache = OwnReasoningCache(self.model, self.dataset, state.get("own_reasoning") if state else None)
            if config.data.cache_frame_embeddings:
                self.frames = FrameEmbeddings.build(self.model, self.dataset, self.cache.get, batch_size=32,
                                                    folder=config.out_dir if self.context.is_main else None,
                                                    show_progress=show_progress and self.context.is_main)
            self.step_module = distributed.wrap_model(HeadTrainingStep(self.model), self.context)
        elif self.sharded:  # in place: self.model becomes the FSDP root
            self.model.train()
            gathered_dtype = getattr(torch, config.fsdp_param_dtype or "bfloat16")
            self.step_module = fsdp.shard_model(self.model, self.context, gathered_dtype, config.activation_checkpointing)
        else:
            self.model.train()
            self.step_module = distributed.wrap_model(self.model, self.context)
        self.locator_truth = (locator_targets(self.model, self.dataset)
                              if config.stage == 2 and self.model.head.locator is not None else None)
        self.optimizer = make_optimizer(self.model, config)
        optim = config.optim
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, config.steps, optim.warmup_steps, optim.min_lr_ratio))
        self.step = 0
        torch.manual_seed(config.seed + self.context.rank)
        if state is not None:
            self.load_optimizer_state(state)
            self.scheduler.load_state_dict(state["scheduler"])
            self.step = int(state["step"])
            rng = checkpointing.rng_state_of_rank(state, self.context.rank)
            if rng is None:
                LOG.warning("checkpoint %s was saved by fewer processes: rank %d keeps its fresh RNG seed",
                            self.resume_dir, self.context.rank)
            else:
                checkpointing.restore_rng_state(rng)
        self.logger = MetricsLogger(config.out_dir, enabled=self.context.is_main)
        self.show_progress = show_progress and self.context.is_main

    def load_optimizer_state(self, state: dict) -> None:
        """From trainer_state.pt (DDP checkpoints) or, with the model's shards, from distributed/ (FSDP)."""
        sharded_dir = self.resume_dir / fsdp.SHARDED_STATE_DIR
        if "optimizer" in state and self.sharded:
            raise ValueError(f"checkpoint '{self.resume_dir}' was written by distributed: ddp; resume it with ddp, "
                             f"or start a sharded run from its weights with model.init_from")
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        elif not self.sharded:
            raise ValueError(f"checkpoint '{self.resume_dir}' holds sharded state ({sharded_dir.name}/); resume it "
                             f"with distributed: fsdp (at any number of processes)")
        else:
            fsdp.load_sharded_state(self.model, self.optimizer, sharded_dir)

    def rank_rng(self, step: int, rank: int | None, *salt: int) -> np.random.Generator:
        """The generator of process `rank` (default: this process's) at `step`, seeded by (seed, step,
        rank, *salt): a resumed run draws what an uninterrupted one would; each salt is one use."""
        return np.random.default_rng([self.config.seed, step, self.context.rank if rank is None else rank, *salt])

    def draw(self, step: int, rank: int | None = None) -> tuple[str, np.ndarray]:
        """The batch kind and the sample positions of process `rank` (default: this process's); in a
        text batch a negative position -k-1 names text-only fact k of TEXT_FACTS: an arithmetic fact
        for `data.arithmetic_fraction` of the samples, the math reasoning from text for
        `data.reasoning_text_fraction`."""
        shared = np.random.default_rng([self.config.seed, step, 1_000_003])
        kind = "text" if self.qa is not None and shared.random() < self.config.data.image_text_fraction else "robot"
        own = self.rank_rng(step, rank)
        size = len(self.qa) if kind == "text" else len(self.dataset)
        batch = self.config.batch_size
        positions = own.integers(size, size=batch)
        arithmetic, reasoning = self.config.data.arithmetic_fraction, self.config.data.reasoning_text_fraction
        if kind == "text" and arithmetic > 0:
            facts = own.integers(len(ARITHMETIC), size=batch)
            positions = np.where(own.random(batch) < arithmetic, -facts - 1, positions)
        if kind == "text" and reasoning > 0:  # drawn among the samples the arithmetic left to QA
            facts = len(ARITHMETIC) + own.integers(len(REASONING_TEXT), size=batch)
            chosen = (positions >= 0) & (own.random(batch) < reasoning / max(1e-9, 1.0 - arithmetic))
            positions = np.where(chosen, -facts - 1, positions)
        return kind, positions

    def text_sample(self, position: int):
        return TEXT_FACTS[-position - 1] if position < 0 else self.qa.text_sample(position)

    def forward_loss(self, step: int, rank: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss on step `step`'s batch of process `rank` (default: this process's) and its parts."""
        kind, positions = self.draw(step, rank)
        device = self.context.device
        if kind == "text":
            batch = text_batch(self.model, [self.text_sample(int(p)) for p in positions])
            output = self.step_module(batch)
            loss, values = output.loss, {"lm_loss_text": output.lm_loss.item(), "router_loss": output.router_loss.item()}
        else:
            if self.cache is not None:  # stage 2: the frozen VLM's embeddings, cached or computed now
                if self.frames is not None:
                    observation, reasoning, state, actions, context = self.frames.take(positions)
                else:
                    samples = [self.dataset.robot_sample(int(p)) for p in positions]
                    batch, state, actions = robot_batch(self.model, samples,
                                                        [self.cache.get(s.episode) for s in samples])
                    observation, reasoning, context = frame_embeddings(self.model, batch)
                state = self.noisy_state(state, step, rank)
                reasoning = self.mismatched_reasoning(reasoning, step, rank)
                truth = None
                if self.locator_truth is not None:
                    rows = torch.as_tensor(np.asarray(positions, dtype=np.int64))
                    truth = self.locator_truth.rows(rows)
                loss, values = self.step_module(observation.to(device), reasoning.to(device), state.to(device),
                                                actions.to(device), context, truth)
            else:
                samples = [self.dataset.robot_sample(int(p)) for p in positions]
                targets, unscored, action_mask = self.counterfactuals(samples, step, rank)
                batch, state, actions = robot_batch(self.model, samples, targets, unscored)
                state = self.noisy_state(state, step, rank)
                output = self.step_module(batch, state=state.to(device), actions=actions.to(device),
                                          action_mask=action_mask)
                loss = output.loss
                values = {"lm_loss": output.lm_loss.item(), "diffusion_loss": output.diffusion_loss.item(),
                          "router_loss": output.router_loss.item()}
        return loss, values

    def noisy_state(self, state: torch.Tensor, step: int, rank: int | None) -> torch.Tensor:
        """The head's state input (B, S) plus `data.state_noise_std` x each dimension's data spread
        of Gaussian noise, drawn from a generator seeded by (seed, step, rank)."""
        scale = self.config.data.state_noise_std
        if scale <= 0:
            return state
        generator = torch.Generator().manual_seed(int(self.rank_rng(step, rank, 11).integers(2**62)))
        spread = torch.as_tensor(self.model.action_stats.state_std, dtype=state.dtype)  # (S,)
        return state + scale * spread * torch.randn(state.shape, generator=generator, dtype=state.dtype)

    def mismatched_reasoning(self, reasoning: torch.Tensor, step: int, rank: int | None) -> torch.Tensor:
        """`data.mismatched_reasoning_fraction` of the rows (drawn from (seed, step, rank)) get the
        pooled reasoning embedding (B, D) of another row of the batch, drawn too; the token context
        the locator reads is left as it is."""
        fraction = self.config.data.mismatched_reasoning_fraction
        if fraction <= 0 or reasoning.shape[0] < 2:
            return reasoning
        rng = self.rank_rng(step, rank, 13)
        rows = np.flatnonzero(rng.random(reasoning.shape[0]) < fraction)
        if rows.size == 0:
            return reasoning
        donors = (rows + rng.integers(1, reasoning.shape[0], size=rows.size)) % reasoning.shape[0]
        mismatched = reasoning.clone()
        mismatched[torch.as_tensor(rows)] = reasoning[torch.as_tensor(donors)]
        return mismatched

    def counterfactuals(self, samples, step: int, rank: int | None):
        """`data.counterfactual_row_fraction` of the robot samples get their card row reordered
        (stages.counterfactual_row): LM loss on the place only, no action loss.
        -> (targets, unscored prefixes, action mask (B,)) or (None, None, None) when off."""
        fraction = self.config.data.counterfactual_row_fraction
        if fraction <= 0:
            return None, None, None
        rng = self.rank_rng(step, rank, 7)
        targets, unscored, mask = [], [], []
        for sample in samples:
            swapped = counterfactual_row(sample.reasoning, rng) if rng.random() < fraction else None
            targets.append(swapped[0] if swapped else sample.reasoning)
            unscored.append(swapped[1] if swapped else None)
            mask.append(0.0 if swapped else 1.0)
        return targets, unscored, torch.tensor(mask)

    def train_step(self, step: int) -> dict[str, float]:
        loss, values = self.forward_loss(step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return {"loss": loss.item(), "grad_norm": self.apply_gradients(), **values}

    def apply_gradients(self) -> float:
        """Clip, step the optimizer and the LR schedule; the gradient norm before clipping."""
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], self.config.optim.grad_clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        return float(grad_norm)

    def checkpoint_state(self, rng_by_rank: list | None) -> dict:
        state = {"scheduler": self.scheduler.state_dict(), "rng_by_rank": rng_by_rank,
                 "own_reasoning": self.cache.texts if self.cache is not None else None}
        if not self.sharded:  # FSDP: the optimizer's shards go to distributed/ with the model's
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def save(self, step: int) -> None:
        config = self.config
        rng_by_rank = distributed.gather_to_main(checkpointing.rng_state(), self.context)
        if self.sharded:  # every rank writes its shards, then the gathered export; rank 0 the rest
            partial = checkpointing.partial_checkpoint_dir(config.out_dir, step)
            if self.context.is_main:
                checkpointing.start_checkpoint(config.out_dir, step)
            distributed.barrier(self.context)
            fsdp.save_sharded_state(self.model, self.optimizer, partial / fsdp.SHARDED_STATE_DIR)
            fsdp.export_pretrained(self.model, partial, self.context.is_main)
            if self.context.is_main:
                checkpointing.finish_checkpoint(partial, step, self.checkpoint_state(rng_by_rank), config.to_dict(),
                                                config.keep_checkpoints)
        elif self.context.is_main:
            checkpointing.save_checkpoint(config.out_dir, step, self.model, self.checkpoint_state(rng_by_rank),
                                          config.to_dict(), config.keep_checkpoints)
        distributed.barrier(self.context)

    def run(self) -> Path:
        config = self.config
        start_wall = time.monotonic()
        window: dict[str, list[float]] = {}
        window_start, window_samples = time.monotonic(), 0
        bar = tqdm(total=config.steps, initial=self.step, desc=f"stage {config.stage}", disable=not self.show_progress,
                   dynamic_ncols=True, mininterval=2.0)
        stopped_early = False
        while self.step < config.steps:
            values = self.train_step(self.step)
            self.step += 1
            window_samples += config.batch_size * self.context.world_size
            for key, value in values.items():
                window.setdefault(key, []).append(value)
            bar.update(1)
            if self.step % config.log_every == 0 or self.step == config.steps:
                elapsed = max(time.monotonic() - window_start, 1e-9)
                row = {key: float(np.mean(v)) for key, v in window.items()}
                row = distributed.mean_across_ranks(row, self.context)
                row.update(lr=self.scheduler.get_last_lr()[-1], samples_per_s=window_samples / elapsed,
                           **routing_metrics(self.model))
                if self.cache is not None:
                    row["own_reasoning_matches_annotation"] = self.cache.agreement()
                self.logger.log(self.step, row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", samples_s=f"{row['samples_per_s']:.1f}")
                window, window_start, window_samples = {}, time.monotonic(), 0
            out_of_time = config.max_minutes is not None and (time.monotonic() - start_wall) / 60 > config.max_minutes
            if self.step % config.checkpoint_every == 0 or self.step == config.steps or out_of_time:
                self.save(self.step)
            if out_of_time:
                stopped_early = self.step < config.steps
                break
        bar.close()
        final = Path(config.out_dir) / "final"
        if self.sharded:
            fsdp.export_pretrained(self.model, final, self.context.is_main)
        elif self.context.is_main:
            self.model.save_pretrained(final)
        if self.context.is_main:
            (final / "train_config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
            if self.logger.jsonl_path.is_file():
                plot_curves({f"stage {config.stage}": self.logger.jsonl_path}, Path(config.out_dir) / "curves.png",
                            title=f"stage {config.stage}, {self.step} steps" + (" (stopped at max_minutes)" if stopped_early else ""))
        self.logger.close()
        distributed.barrier(self.context)
        return final

    def close(self) -> None:
        distributed.shutdown(self.context)


def train(config: TrainConfig, resume: str | None = None, show_progress: bool = True) -> Path:
    trainer = Trainer(config, resume, show_progress)
    try:
        return trainer.run()
    finally:
        trainer.close()
