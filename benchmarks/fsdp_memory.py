"""Per-rank memory of FSDP2 training (src/chatvla2/train/fsdp.py), by arithmetic: the table in
docs/training.md "Sharded training (FSDP2)".

    python benchmarks/fsdp_memory.py --preset paper --world 8 --batch 8          # 8 x 80 GB, bf16, AC
    python benchmarks/fsdp_memory.py --preset tiny --world 2 --batch 2 --param-dtype float32

Parameter counts per shard unit come from the model built on the meta device (nothing allocated).
A sample's length comes from the real processor: one camera frame (--camera, 240 x 320 by default:
the paper's) at the preset's pixel budget with its crop views, the math instruction, and the
preset's full reasoning budget as target tokens. What is counted:
  persistent   float32 sharded weights, gradients and AdamW moments: 4 + 4 + 8 bytes x P / world
  gathered     the root unit's parameters (held through forward and backward) and the two largest
               other units (the one computing and the one prefetched), in the gathered dtype
  unsharded    the largest unit's gradient before its reduce-scatter: gathered dtype + float32 copy
  activations  per token, Korthikanti et al. 2022 (16-bit bytes, no attention-score term since
               SDPA is used): attention + norms 16 h, a SwiGLU expert slot 2 h + 6 I, a ViT/DiT
               block 34 h; with activation checkpointing each layer keeps its input (2 h) and one
               layer at a time is whole; the LM logits of the target tokens (gathered dtype + the
               float32 copy the loss takes + its gradient)
  AdamW step   torch's default (foreach) AdamW holds about one more float32 shard while it steps
It is an estimate to size a run with, not a measurement: allocator fragmentation, NCCL buffers and
the CUDA context (~0.5-1 GB) come on top. Peak = persistent + the larger of the backward phase
(gathered, unsharded, activations: all alive at the start of backward) and the step phase.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch

from chatvla2.model.config import ChatVLA2Config, preset

GIB = 2 ** 30
INSTRUCTION = "pick the card that answers the equation on the board"


@dataclass(frozen=True)
class SampleShape:
    tokens: int  # decoder sequence length
    target_tokens: int  # tokens with an LM loss (reasoning + <|im_end|>)
    image_patches: int  # vision tower tokens (14 px patches of one camera)
    action_tokens: int  # head tokens (state + horizon)


def sample_shape(config: ChatVLA2Config, camera_hw: tuple[int, int] = (240, 320)) -> SampleShape:
    from chatvla2.model.crop_views import parse_crop_views
    from chatvla2.model.processor import ChatVLA2Processor, image_processor_for
    from chatvla2.model.tokenizer import build_tiny_tokenizer

    processor = ChatVLA2Processor(build_tiny_tokenizer(), image_processor_for(config.min_pixels, config.max_pixels,
                                                                               config.patch_size),
                                  crop_views=parse_crop_views(config.image_crops))
    frame = np.zeros(camera_hw + (3,), dtype=np.uint8)
    example = processor.encode({"front": frame}, INSTRUCTION)
    targets = config.max_reasoning_tokens + 1
    patches = int(example.pixel_values.shape[0])
    return SampleShape(len(example.input_ids) + targets, targets, patches, config.action_head.horizon + 1)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def shard_units(config: ChatVLA2Config) -> dict[str, list[int]]:
    """Parameters per FSDP unit, as fsdp.shard_model cuts them: kind -> one count per unit."""
    from chatvla2.model.action_head import ReasoningFollowingHead
    from chatvla2.model.backbone import build_backbone

    with torch.device("meta"):
        vlm = build_backbone(config)
        head = ReasoningFollowingHead(config.action_head, config.text_hidden_size)
    units = {"decoder layer": [count(layer) for layer in vlm.model.language_model.layers],
             "vision block": [count(block) for block in vlm.model.visual.blocks],
             "head block": [count(block) - count(block.adaLN_modulation) for block in head.blocks],
             "head block modulation": [count(block.adaLN_modulation) for block in head.blocks]}
    units["root"] = [count(vlm) + count(head) - sum(sum(counts) for counts in units.values())]
    return units


@dataclass(frozen=True)
class MemoryRow:
    name: str
    bytes: float  # per rank
    phase: str  # persistent | backward | step


def peak_bytes(rows: list[MemoryRow]) -> float:
    phase = {name: sum(r.bytes for r in rows if r.phase == name) for name in ("persistent", "backward", "step")}
    return phase["persistent"] + max(phase["backward"], phase["step"])


def estimate(config: ChatVLA2Config, world: int, batch: int, shape: SampleShape, gathered_bytes: int,
             activation_checkpointing: bool) -> list[MemoryRow]:
    """Bytes per rank for one training step with `batch` samples per rank."""
    units = shard_units(config)
    total = sum(sum(counts) for counts in units.values())
    root = units["root"][0]
    largest = sorted(c for kind, counts in units.items() if kind != "root" for c in counts)[-2:]
    text = config.backbone["text_config"]
    vision = config.backbone["vision_config"]
    head = config.action_head
    hidden, vocab = text["hidden_size"], text["vocab_size"]
    if config.moe.kind == "dense":  # FFN slots each token passes through, and their width
        slots, width = 1, text["intermediate_size"]
    else:
        slots = (1 if config.moe.kind == "static" else config.moe.top_k) + (config.moe.kind == "shared")
        width = config.moe.expert_intermediate_size or text["intermediate_size"]
    scale = gathered_bytes / 2  # the per-token coefficients are 16-bit bytes

    def stack(layers: int, tokens: int, per_token_whole: float, width_kept: int) -> float:
        whole = tokens * per_token_whole * scale
        if not activation_checkpointing:
            return layers * whole
        return layers * tokens * width_kept * gathered_bytes + whole

    decoder_tokens = batch * shape.tokens
    decoder = stack(text["num_hidden_layers"], decoder_tokens, 16 * hidden + slots * (2 * hidden + 6 * width), hidden)
    vision_tokens = batch * shape.image_patches
    tower = stack(vision["depth"], vision_tokens, 34 * vision["embed_dim"], vision["embed_dim"])
    head_tokens = batch * shape.action_tokens
    dit = stack(head.depth, head_tokens, 34 * head.width, head.width)
    logits = batch * shape.target_tokens * vocab * (gathered_bytes + 4 + 4)
    shard = total / world
    return [MemoryRow("weights (float32 shard)", 4 * shard, "persistent"),
            MemoryRow("gradients (float32 shard)", 4 * shard, "persistent"),
            MemoryRow("AdamW moments (float32 shard)", 8 * shard, "persistent"),
            MemoryRow("gathered weights (root + 2 units)", gathered_bytes * (root + sum(largest)), "backward"),
            MemoryRow("unsharded gradient before reduce-scatter", (gathered_bytes + 4) * max(root, largest[-1]),
                      "backward"),
            MemoryRow("activations: decoder", decoder, "backward"),
            MemoryRow("activations: vision tower", tower, "backward"),
            MemoryRow("activations: head", dit, "backward"),
            MemoryRow("activations: LM logits", logits, "backward"),
            MemoryRow("AdamW step temporaries (one float32 shard)", 4 * shard, "step")]


def format_table(rows: list[MemoryRow], title: str) -> str:
    peak = peak_bytes(rows)
    unit, size = ("GiB", GIB) if peak >= GIB else ("MiB", 2 ** 20)
    lines = [f"| {title} | phase | {unit} per rank |", "|---|---|---|"]
    lines += [f"| {row.name} | {row.phase} | {row.bytes / size:.2f} |" for row in rows]
    lines.append(f"| **peak** | persistent + max(backward, step) | **{peak / size:.2f}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=("tiny", "paper"), default="paper")
    parser.add_argument("--world", type=int, default=8, help="processes (GPUs) sharing the model")
    parser.add_argument("--batch", type=int, default=8, help="samples per process per step")
    parser.add_argument("--param-dtype", choices=("bfloat16", "float32"), default="bfloat16",
                        help="fsdp_param_dtype: the gathered weights' dtype")
    parser.add_argument("--no-activation-checkpointing", action="store_true")
    parser.add_argument("--camera", type=int, nargs=2, default=(240, 320), metavar=("H", "W"),
                        help="camera frame size in pixels (the tests' tiny episodes use 64 64)")
    args = parser.parse_args()
    config = preset(args.preset)
    shape = sample_shape(config, tuple(args.camera))
    gathered = 2 if args.param_dtype == "bfloat16" else 4
    rows = estimate(config, args.world, args.batch, shape, gathered, not args.no_activation_checkpointing)
    total = sum(sum(c) for c in shard_units(config).values())
    print(f"preset {args.preset}: {total:,} parameters; world {args.world}, {args.batch} samples per rank; "
          f"sample: {shape.tokens} tokens ({shape.target_tokens} with a loss), {shape.image_patches} image patches, "
          f"{shape.action_tokens} head tokens; gathered {args.param_dtype}; activation checkpointing "
          f"{'off' if args.no_activation_checkpointing else 'on'}")
    print(format_table(rows, f"{args.preset}, FSDP2 over {args.world}"))


if __name__ == "__main__":
    main()
