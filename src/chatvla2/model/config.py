"""Configuration of the ChatVLA-2 model: one frozen-in-spirit dataclass tree, two presets.

`ChatVLA2Config` holds everything a checkpoint needs to rebuild the model: the Qwen2-VL backbone
sizes (`backbone`, the keyword arguments of transformers' `Qwen2VLConfig`), the mixture-of-experts
choice (`MoEConfig`), the diffusion action head (`ActionHeadConfig`), the image resolution rules
and the loss weights. It round-trips through `config.json` (`to_dict` / `from_dict`).

Presets:
- `tiny`: a ~6M-parameter Qwen2-VL (2 vision blocks with 7 px patches, 4 decoder layers of width
  128, 8 experts top-2) with the project's word-level tokenizer and a 4-block head of width 128;
  camera frames are resized (Qwen2-VL `smart_resize`) to at most 84x84 pixels (36 merged image
  tokens per camera) and the card row comes as a 168x42 view cut from the front camera at full
  resolution (`TINY_IMAGE_CROPS`, 36 tokens): the settings measured in stage 0 (models/qwen2vl-tiny-base/README.md).
  It trains and runs on 2 CPU cores. Checkpoints keep the settings they were trained with.
- `paper`: Qwen2-VL-2B sizes, 8 experts top-2 whose width is chosen for the paper's +40% memory
  (see docs/model.md), and a ScaleDP-H head (depth 32, width 1280, 16 heads, ~1B parameters).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

MOE_KINDS = ("dynamic", "static", "shared", "dense")
LOCATOR_QUERIES = ("clause", "digit-and-place")


@dataclass
class MoEConfig:
    """How each decoder layer's FFN is replaced.

    kind: "dynamic" (noisy top-k router, the paper's model), "static" (tokens routed by modality:
    text tokens to expert 0, image tokens to expert 1, the paper's ablation), "shared" (dynamic
    routing plus an always-on shared expert, outputs averaged) or "dense" (the original MLP).
    expert_intermediate_size: FFN width of one expert; None means the dense model's width, which
    makes sparse upcycling exact.
    """

    kind: str = "dynamic"
    num_experts: int = 8
    top_k: int = 2
    expert_intermediate_size: int | None = None
    noisy_gating: bool = True
    router_init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.kind not in MOE_KINDS:
            raise ValueError(f"moe.kind must be one of {MOE_KINDS}, got '{self.kind}'")
        if self.kind == "static" and self.num_experts < 2:
            raise ValueError("moe.kind 'static' needs num_experts >= 2 (one expert per modality)")
        if not 1 <= self.top_k <= self.num_experts:
            raise ValueError(f"moe.top_k must be in [1, num_experts={self.num_experts}], got {self.top_k}")


@dataclass
class ActionHeadConfig:
    """The reasoning-following diffusion transformer (ScaleDP family) over an action chunk."""

    horizon: int = 16
    action_dim: int = 8
    state_dim: int = 8
    width: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: float = 4.0
    reasoning_following: bool = True
    # Every block also cross-attends to the VLM's token states (prompt tokens; the reasoning's too
    # in the reasoning half), not only to their means (action_head.py, "Token attention"). Not in
    # the shipped recipe; kept: a head variant for robots whose target the locator cannot point at.
    token_attention: bool = False
    # False: the AdaLN conditions leave the pooled embeddings out (timestep and state only), so a
    # token-attention head reads the VLM through its tokens alone (it cannot take the means' shortcut).
    # Kept with token_attention, which it only modifies.
    pooled_embeddings: bool = True
    # A target locator (target_locator.py) points at the image token of the card the reasoning names
    # and reads its table position; the head's reasoning condition adds that position. The shipped
    # tiny model has one (stage 2b adds it); off by default because the paper's design has none.
    target_locator: bool = False
    # What the locator's pointer query is built from: "clause", the learned attention over the whole
    # reasoning; or "digit-and-place", only the digit and the place word its last clause names (read
    # from the clause by two classifiers, teacher-forced in training), so the pointer cannot see
    # the rest of the reasoning, e.g. whether the named card is the board's answer. The shipped model
    # uses digit-and-place; "clause" stays the default of a locator added without a query (tests).
    locator_query: str = "clause"
    train_timesteps: int = 100
    inference_steps: int = 10

    @property
    def reads_tokens(self) -> bool:
        """Whether the head needs the VLM's token states (a TokenContext), not only their means."""
        return self.token_attention or self.target_locator

    def __post_init__(self) -> None:
        if self.locator_query not in LOCATOR_QUERIES:
            raise ValueError(f"action_head.locator_query '{self.locator_query}' is not one of {LOCATOR_QUERIES}")
        if self.width % self.num_heads:
            raise ValueError(f"action_head.width {self.width} is not divisible by num_heads {self.num_heads}")
        if not self.pooled_embeddings and not self.token_attention:
            raise ValueError("action_head.pooled_embeddings: false needs token_attention: true (the head would see no VLM)")
        if self.depth < 2:
            raise ValueError("action_head.depth must be >= 2 (observation half and reasoning half)")
        if not 1 <= self.inference_steps <= self.train_timesteps:
            raise ValueError("action_head.inference_steps must be in [1, train_timesteps]")


@dataclass
class ChatVLA2Config:
    backbone: dict[str, Any]
    moe: MoEConfig = field(default_factory=MoEConfig)
    action_head: ActionHeadConfig = field(default_factory=ActionHeadConfig)
    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 1280
    max_reasoning_tokens: int = 64
    image_crops: dict[str, Any] = field(default_factory=dict)  # region-of-interest views fed as extra
    # images, name -> {camera, box: [top, left, bottom, right] fractions, size: [w, h]} (crop_views.py)
    lm_loss_weight: float = 1.0
    diffusion_loss_weight: float = 1.0
    router_loss_weight: float = 0.01
    locator_loss_weight: float = 1.0  # stage 2, a head with a target locator: its loss beside the diffusion loss
    step_dt_s: float = 0.1  # time between action chunk rows when the policy executes them
    preset: str = "custom"

    def __post_init__(self) -> None:
        from chatvla2.model.crop_views import parse_crop_views

        parse_crop_views(self.image_crops)  # a malformed view fails when the config is made or read

    @property
    def patch_size(self) -> int:
        return int(self.backbone["vision_config"]["patch_size"])

    def qwen2vl_config(self):
        """transformers' Qwen2VLConfig of the backbone (dense sizes; the MoE swap happens after)."""
        from transformers import Qwen2VLConfig

        return Qwen2VLConfig(**copy.deepcopy(self.backbone))

    @property
    def text_hidden_size(self) -> int:
        return int(self.backbone["text_config"]["hidden_size"])

    @property
    def image_token_id(self) -> int:
        return int(self.backbone["image_token_id"])

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": "chatvla2", **asdict(self)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> "ChatVLA2Config":
        raw = {key: value for key, value in raw.items() if key != "model_type"}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{source}: unknown fields {unknown}")
        if "backbone" not in raw:
            raise ValueError(f"{source}: missing field 'backbone'")
        try:
            moe = MoEConfig(**raw.pop("moe", {}))
            head = ActionHeadConfig(**raw.pop("action_head", {}))
            return cls(moe=moe, action_head=head, **raw)
        except TypeError as error:
            raise ValueError(f"{source}: {error}") from None


# The tiny preset's vision settings (stage 0 measured them; one source for the preset, the stage-0
# base and the benchmarks): 7 px patches read a card digit at any offset, 14 px ones barely.
TINY_PATCH_SIZE = 7  # px
TINY_MIN_PIXELS = 28 * 28
TINY_MAX_PIXELS = 84 * 84  # a 224 px camera becomes 84 x 84 (12 x 12 merged tokens)
TINY_IMAGE_CROPS = {  # the card row at the front camera's full resolution (cards ~14 px)
    "front_cards": {"camera": "front", "box": [0.585, 0.125, 0.772, 0.875], "size": [168, 42]},
}


def tiny_backbone(vocab_size: int, special_ids: dict[str, int]) -> dict[str, Any]:
    return {
        "text_config": {
            "vocab_size": vocab_size, "hidden_size": 128, "intermediate_size": 256,
            "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 1024, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
            "bos_token_id": special_ids["<|endoftext|>"], "eos_token_id": special_ids["<|im_end|>"],
            "pad_token_id": special_ids["<|endoftext|>"],
        },
        "vision_config": {
            "depth": 2, "embed_dim": 64, "hidden_size": 128, "mlp_ratio": 2, "num_heads": 4,
            "in_channels": 3, "patch_size": TINY_PATCH_SIZE, "spatial_merge_size": 2, "temporal_patch_size": 2,
        },
        "image_token_id": special_ids["<|image_pad|>"], "video_token_id": special_ids["<|video_pad|>"],
        "vision_start_token_id": special_ids["<|vision_start|>"],
        "vision_end_token_id": special_ids["<|vision_end|>"], "tie_word_embeddings": True,
    }


# Qwen2-VL-2B-Instruct's published config.json (sizes and special token ids).
QWEN2VL_2B_BACKBONE: dict[str, Any] = {
    "text_config": {
        "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960,
        "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        "bos_token_id": 151643, "eos_token_id": 151645,
    },
    "vision_config": {
        "depth": 32, "embed_dim": 1280, "hidden_size": 1536, "mlp_ratio": 4, "num_heads": 16,
        "in_channels": 3, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
    },
    "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652,
    "vision_end_token_id": 151653, "tie_word_embeddings": True,
}

# Expert FFN width of the paper preset: 8 experts of this width make the MoE model's total size
# 1.40x the dense 3B model (arithmetic in docs/model.md; `chatvla2 model-info` checks it).
PAPER_EXPERT_INTERMEDIATE_SIZE = 2352


def preset(name: str) -> ChatVLA2Config:
    """The `tiny` or `paper` configuration."""
    if name == "tiny":
        from chatvla2.model.tokenizer import tiny_special_token_ids, tiny_vocabulary

        return ChatVLA2Config(
            backbone=tiny_backbone(len(tiny_vocabulary()), tiny_special_token_ids()),
            moe=MoEConfig(num_experts=8, top_k=2),
            action_head=ActionHeadConfig(width=128, depth=4, num_heads=4),
            min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS, image_crops=copy.deepcopy(TINY_IMAGE_CROPS),
            max_reasoning_tokens=48, preset="tiny",
        )
    if name == "paper":
        return ChatVLA2Config(
            backbone=copy.deepcopy(QWEN2VL_2B_BACKBONE),
            moe=MoEConfig(num_experts=8, top_k=2, expert_intermediate_size=PAPER_EXPERT_INTERMEDIATE_SIZE),
            action_head=ActionHeadConfig(width=1280, depth=32, num_heads=16),
            max_pixels=320 * 240, preset="paper",
        )
    raise ValueError(f"unknown model preset '{name}': use 'tiny' or 'paper'")
