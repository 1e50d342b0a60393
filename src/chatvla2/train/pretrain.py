"""Stage 0: pretrain the dense tiny Qwen2-VL base that stands where Qwen2-VL-2B stands in the paper.

A plain transformers `Qwen2VLForConditionalGeneration` (no MoE, no action head) learns to read
and order what it sees from `data/reading_scenes.py`, a fresh procedural image per sample:

1. `tower_steps` steps of vision-tower pretraining, as Qwen2-VL's own tower was a pretrained ViT
   before any language: the merged image tokens of one card, max-pooled, classify its digit
   through a throw-away linear head (`TowerProbeHead`). Trained through the language model from
   the start, the tower never picked up a digit here (the answer stayed one constant digit for
   2,500 steps); with a max-pooled readout it does within minutes (shared/READING_PROBES.md).
2. the LM loss on the answer only (the same chat layout as stages 1-2, `ChatVLA2Processor`), with
   a curriculum from single cards and boards to rows and rendered sim frames (`kind_weights`).
Every `probe_every` steps a held-out probe (seeds no training step draws) generates greedily
and counts exact answers per question kind; `final/` is a directory that transformers'
`Qwen2VLForConditionalGeneration.from_pretrained` and `PreTrainedTokenizerFast.from_pretrained`
load as they are, and that `model.dense_backbone` upcycles into the MoE model.

    chatvla2 pretrain --config config/train/tiny_stage0a_reading.yaml --resume auto
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from chatvla2.data.reading_scenes import HELDOUT_SEED_BASE, SimFramePool, make_sample
from chatvla2.model.config import TINY_MAX_PIXELS, TINY_MIN_PIXELS, TINY_PATCH_SIZE
from chatvla2.train import checkpointing
from chatvla2.train.metrics import MetricsLogger, plot_curves
from chatvla2.train.trainer import lr_factor

LOG = logging.getLogger(__name__)
PROBE_KINDS = ("single", "row", "which", "board", "sim_row", "sim_which", "sim_board", "arithmetic", "lookup",
               "reasoning")
PROBE_DESCRIPTIONS = {
    "single": "one card anywhere in a 28-84 px image: its digit",
    "row": "2-4 cards in a row: their digits, left to right",
    "which": "2-4 cards in a row: which one shows d (its place from the left)",
    "board": "a drawn board anywhere, any size: its equation",
    "sim_row": "the card-row view of a held-out sim scene: the digits, left to right",
    "sim_which": "the card-row view of a held-out sim scene: which card shows d",
    "sim_board": "a held-out sim scene's front camera at 84x84: the board's equation",
    "arithmetic": "text only: what is the answer to a op b?",
    "lookup": "text only, held-out rows: the cards say a b c; where is the card b?",
    "reasoning": "text only, held-out rows: the whole math reasoning from the board and cards given in text",
}
SIM_PROBES = {"what numbers": "sim_row", "which card": "sim_which", "what does the board": "sim_board"}


@dataclass
class PretrainConfig:
    out_dir: str = "runs/tiny_stage0a"
    steps: int = 20000  # optimizer steps in total (a resumed run continues to this number)
    batch_size: int = 32
    lr: float = 5e-4  # peak; linear warm-up then cosine decay to lr * min_lr_ratio
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip_norm: float = 1.0
    seed: int = 0
    num_threads: int = 1  # torch CPU threads
    patch_size: int = TINY_PATCH_SIZE  # px; the reading probes: 7 reads a shifted digit, 14 barely
    vision_depth: int = 2
    vision_embed_dim: int = 64
    min_pixels: int = TINY_MIN_PIXELS
    max_pixels: int = TINY_MAX_PIXELS  # 224 px cameras become 84 x 84; the 168 x 42 card-row view fits whole
    sim_pool_scenes: int = 400  # rendered TRAIN-split scenes drawn from by `sim` samples
    probe_every: int = 500
    probe_samples: int = 30  # per probe kind
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 25
    max_minutes: float | None = None  # stop after a checkpoint once the wall clock passes this
    tower_steps: int = 3000  # vision-tower pretraining steps (single cards, max-pooled readout) first
    init_from: str | None = None  # continue an existing base directory (fresh optimizer) instead of a new one
    curriculum: dict = field(default_factory=lambda: {
        # progress (fraction of steps) at which each phase starts -> kind weights
        0.0: {"single": 0.45, "row": 0.15, "board": 0.25, "text": 0.15},
        0.15: {"single": 0.15, "row": 0.4, "board": 0.15, "sim": 0.15, "text": 0.15},
        0.4: {"single": 0.05, "row": 0.35, "board": 0.1, "sim": 0.35, "text": 0.15},
    })


def load_pretrain_config(path: str | Path, overrides: dict | None = None) -> PretrainConfig:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    raw.update(overrides or {})
    known = {f.name for f in dataclasses.fields(PretrainConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; known: {sorted(known)}")
    if "curriculum" in raw:
        raw["curriculum"] = {float(k): v for k, v in raw["curriculum"].items()}
    return PretrainConfig(**raw)


class TowerProbeHead(torch.nn.Module):
    """Max-pool each image's merged tokens, then one linear layer -> 10 digit logits. Trains the
    vision tower before the language model; not part of the saved base."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.classify = torch.nn.Linear(width, 10)

    def forward(self, model, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
        tokens = model.model.get_image_features(pixel_values, image_grid_thw).pooler_output  # per image (n_i, D)
        pooled = torch.stack([t.max(dim=0).values for t in tokens])  # (B, D)
        return self.classify(pooled)  # (B, 10)


def tower_batch(processor, step: int, config: PretrainConfig, seed: int):
    """Single cards for the tower phase: small images for its first half, any size after."""
    kind = "single_small" if step < config.tower_steps // 2 else "single"
    samples = [make_sample(kind, seed + index) for index in range(config.batch_size)]
    processed = processor.image_processor(images=[s.image for s in samples], return_tensors="pt")
    labels = torch.tensor([int(s.answer) for s in samples])
    return processed["pixel_values"], processed["image_grid_thw"], labels


def kind_weights(config: PretrainConfig, step: int) -> dict[str, float]:
    """The curriculum phase of an LM step; progress counts from the end of the tower phase."""
    progress = (step - config.tower_steps) / max(config.steps - config.tower_steps, 1)
    starts = sorted(start for start in config.curriculum if start <= progress)
    return config.curriculum[starts[-1]]


def build_base(config: PretrainConfig):
    """A fresh dense tiny Qwen2-VL with the tiny tokenizer and an image processor of its patch size."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from chatvla2.model.config import tiny_backbone
    from chatvla2.model.processor import ChatVLA2Processor
    from chatvla2.model.tokenizer import build_tiny_tokenizer, tiny_special_token_ids, tiny_vocabulary

    backbone = tiny_backbone(len(tiny_vocabulary()), tiny_special_token_ids())
    backbone["vision_config"].update(patch_size=config.patch_size, depth=config.vision_depth,
                                     embed_dim=config.vision_embed_dim)
    model = Qwen2VLForConditionalGeneration(Qwen2VLConfig(**backbone))
    image_processor = Qwen2VLImageProcessorPil(min_pixels=config.min_pixels, max_pixels=config.max_pixels,
                                               patch_size=config.patch_size)
    return model, ChatVLA2Processor(build_tiny_tokenizer(), image_processor)


def load_base(directory: str | Path):
    from transformers import Qwen2VLForConditionalGeneration

    from chatvla2.model.processor import ChatVLA2Processor

    return (Qwen2VLForConditionalGeneration.from_pretrained(directory, dtype=torch.float32),
            ChatVLA2Processor.from_pretrained(directory))


def sim_pool(config: PretrainConfig, show_progress: bool) -> tuple[SimFramePool, SimFramePool]:
    """Training and probe pools of rendered train-split scenes (disjoint seeds), cached in out_dir."""
    pools = []
    for name, seeds in (("train", range(config.sim_pool_scenes)),
                        ("probe", range(HELDOUT_SEED_BASE, HELDOUT_SEED_BASE + config.probe_samples))):
        path = Path(config.out_dir) / f"sim_frames_{name}_{len(seeds)}.npz"
        if path.is_file():
            pools.append(SimFramePool.load(path))
            continue
        pool = SimFramePool.render(seeds, show_progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        pool.save(path)
        pools.append(pool)
    return pools[0], pools[1]


def encode_batch(processor, samples):
    return processor.collate([processor.encode([] if s.image is None else [s.image], s.question, s.answer)
                              for s in samples])


@torch.inference_mode()
def answer(model, processor, sample, max_new_tokens: int = 40) -> str:
    inputs = processor([] if sample.image is None else [sample.image], sample.question)
    keys = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")
    output = model.generate(**{k: inputs[k] for k in keys if k in inputs}, max_new_tokens=max_new_tokens,
                            do_sample=False, eos_token_id=processor.im_end_id, pad_token_id=processor.pad_id)
    return processor.decode(output[0, inputs["input_ids"].shape[1]:].tolist())


def probe_set(config: PretrainConfig, pool: SimFramePool) -> dict[str, list]:
    """Held-out samples per probe kind: seeds at or above HELDOUT_SEED_BASE, the probe sim pool."""
    sets: dict[str, list] = {kind: [] for kind in PROBE_KINDS}
    seed = HELDOUT_SEED_BASE
    while any(len(v) < config.probe_samples for v in sets.values()):
        seed += 1
        for kind, probe in (("single", "single"), ("board", "board"), ("arithmetic", "text"), ("lookup", "lookup"),
                            ("reasoning", "reasoning")):
            if len(sets[kind]) < config.probe_samples:
                sets[kind].append(make_sample(probe, seed))
        row = make_sample("row", seed)
        key = "row" if row.question.startswith("what numbers") else "which" if row.question.startswith("which") else None
        if key and len(sets[key]) < config.probe_samples:
            sets[key].append(row)
        sim = make_sample("sim", seed, pool)
        key = next((kind for start, kind in SIM_PROBES.items() if sim.question.startswith(start)), None)
        if key and len(sets[key]) < config.probe_samples:
            sets[key].append(sim)
    return sets


def probe_table(model_dir: str | Path, samples: int = 30) -> str:
    """The held-out probe of a base directory as a Markdown table (exact answers per kind)."""
    config = PretrainConfig(probe_samples=samples)
    pool = SimFramePool.render(range(HELDOUT_SEED_BASE, HELDOUT_SEED_BASE + samples))
    model, processor = load_base(model_dir)
    model.eval()
    lines = ["| probe (held-out) | what is asked | exact answers |", "|---|---|---|"]
    for kind, items in probe_set(config, pool).items():
        right = sum(answer(model, processor, item) == item.answer for item in items)
        lines.append(f"| {kind} | {PROBE_DESCRIPTIONS[kind]} | {right}/{len(items)} ({100 * right / len(items):.0f}%) |")
    return "\n".join(lines)


def run_probe(model, processor, sets: dict[str, list]) -> dict[str, float]:
    was_training = model.training
    model.eval()
    scores = {f"probe_{kind}": float(np.mean([answer(model, processor, s) == s.answer for s in samples]))
              for kind, samples in sets.items()}
    model.train(was_training)
    return scores


def pretrain(config: PretrainConfig, resume: str | None = None, show_progress: bool = True) -> Path:
    from tqdm import tqdm

    torch.set_num_threads(config.num_threads)
    out_dir = Path(config.out_dir)
    resume_dir = checkpointing.resolve_resume(resume, out_dir)
    torch.manual_seed(config.seed)
    if resume_dir:
        model, processor = load_base(resume_dir)
    elif config.init_from:
        model, processor = load_base(config.init_from)
        LOG.info("continuing the base %s", config.init_from)
    else:
        model, processor = build_base(config)
    train_pool, probe_pool = sim_pool(config, show_progress)
    probes = probe_set(config, probe_pool)
    tower_head = TowerProbeHead(model.config.vision_config.hidden_size)
    optimizer = torch.optim.AdamW(list(model.parameters()) + list(tower_head.parameters()), lr=config.lr,
                                  betas=(0.9, 0.95), weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, config.steps, config.warmup_steps, config.min_lr_ratio))
    step = 0
    if resume_dir:
        state = checkpointing.load_trainer_state(resume_dir)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        tower_head.load_state_dict(state["tower_head"])
        step = int(state["step"])
        checkpointing.restore_rng_state(state["rng"])
        LOG.info("resumed from %s at step %d", resume_dir, step)
    logger = MetricsLogger(out_dir)
    started = time.monotonic()
    model.train()

    def save(at: int) -> Path:
        directory = checkpointing.save_checkpoint(
            out_dir, at, model, {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                 "tower_head": tower_head.state_dict()},
            dataclasses.asdict(config), config.keep_checkpoints)
        processor.save_pretrained(directory)
        return directory

    bar = tqdm(total=config.steps, initial=step, desc="stage 0", disable=not show_progress)
    window_loss, window_start = [], time.monotonic()
    while step < config.steps:
        rng = np.random.default_rng([config.seed, step])
        if step < config.tower_steps:
            pixels, grid, digits = tower_batch(processor, step, config, int(rng.integers(0, HELDOUT_SEED_BASE // 2)))
            loss = torch.nn.functional.cross_entropy(tower_head(model, pixels, grid), digits)
        else:
            loss = lm_loss(model, processor, config, step, rng, train_pool)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"stage 0: non-finite loss at step {step}; last checkpoint is resumable")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
        optimizer.step()
        scheduler.step()
        step += 1
        window_loss.append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(window_loss[-25:]):.3f}")
        if step % config.log_every == 0:
            elapsed = time.monotonic() - window_start
            logger.log(step, {"loss": np.mean(window_loss), "lr": scheduler.get_last_lr()[0],
                              "samples_per_s": len(window_loss) * config.batch_size / max(elapsed, 1e-9)})
            window_loss, window_start = [], time.monotonic()
        if step <= config.tower_steps and (step % config.probe_every == 0 or step == config.tower_steps):
            scores = {"probe_tower_single": tower_accuracy(model, processor, tower_head, probes["single"])}
            logger.log(step, scores)
            bar.write(f"step {step}: tower reads single cards {scores['probe_tower_single']:.0%}")
        elif step % config.probe_every == 0 or step == config.steps:
            scores = run_probe(model, processor, probes)
            logger.log(step, scores)
            bar.write(f"step {step}: " + "  ".join(f"{k[6:]} {v:.0%}" for k, v in scores.items()))
        out_of_time = config.max_minutes is not None and time.monotonic() - started > 60 * config.max_minutes
        if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
            save(step)
            plot_probe_curves(out_dir)
        if out_of_time:
            LOG.info("stage 0: max_minutes reached at step %d; resume with --resume auto", step)
            break
    bar.close()
    logger.close()
    if step < config.steps:
        return checkpointing.checkpoint_dir(out_dir, step)
    final = out_dir / "final"
    model.save_pretrained(final)
    processor.save_pretrained(final)
    (final / "probe.json").write_text(json.dumps(run_probe(model, processor, probes), indent=1))
    return final


def lm_loss(model, processor, config: PretrainConfig, step: int, rng: np.random.Generator,
            pool: SimFramePool) -> torch.Tensor:
    weights = kind_weights(config, step)
    kinds = list(weights)
    drawn = rng.choice(kinds, config.batch_size, p=np.array([weights[k] for k in kinds]) / sum(weights.values()))
    seeds = rng.integers(0, HELDOUT_SEED_BASE, config.batch_size)
    batch = encode_batch(processor, [make_sample(str(kind), int(seed), pool) for kind, seed in zip(drawn, seeds)])
    return model(**{k: batch[k] for k in ("input_ids", "attention_mask", "mm_token_type_ids", "labels",
                                          "pixel_values", "image_grid_thw") if k in batch}).loss


@torch.inference_mode()
def tower_accuracy(model, processor, head: TowerProbeHead, samples: list) -> float:
    processed = processor.image_processor(images=[s.image for s in samples], return_tensors="pt")
    predicted = head(model, processed["pixel_values"], processed["image_grid_thw"]).argmax(-1)
    return float((predicted == torch.tensor([int(s.answer) for s in samples])).float().mean())


def plot_probe_curves(out_dir: Path) -> None:
    metrics = out_dir / "metrics.jsonl"
    if metrics.is_file():
        plot_curves({"stage 0": metrics}, out_dir / "curves.png", "stage 0: tiny dense Qwen2-VL base",
                    keys=("loss", "lr", "samples_per_s", "probe_tower_single") + tuple(f"probe_{k}" for k in PROBE_KINDS))
