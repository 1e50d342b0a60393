"""Training configuration: one dataclass tree per run, loaded from YAML (config/train/*.yaml).

Stage 1 (co-training) trains the MoE VLM and the action head on a mix of image-text QA batches
and robot-episode batches (`data.image_text_fraction` is the share of QA batches; the paper mixes
1:3, i.e. 0.25). Stage 2 freezes the VLM and trains only the action head on robot episodes,
conditioned on the reasoning the frozen model generates itself (`model.init_from` names the
stage-1 checkpoint). Every field has a unit or a meaning in its comment; unknown YAML keys are an
error naming the file, so a typo never silently trains with a default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STAGES = (1, 2)
DISTRIBUTED_MODES = ("ddp", "fsdp")
FSDP_PARAM_DTYPES = ("bfloat16", "float32")


@dataclass
class ModelSection:
    preset: str = "tiny"  # model preset when starting from scratch: tiny | paper
    init_from: str | None = None  # checkpoint (HF layout) to start from; stage 2 without one is the
    # 'stage 2 only' ablation: a fresh, frozen VLM
    dense_backbone: str | None = None  # local dense Qwen2-VL directory to upcycle (paper preset)
    upcycle_experts: bool = True  # False: the MoE experts start random, not as copies of the dense
    # MLP (the "no upcycling" ablation); everything else still comes from dense_backbone
    moe_kind: str | None = None  # override: dynamic | static | shared | dense (ablations)
    reasoning_following: bool | None = None  # override: False is the no-reasoning-following ablation
    fresh_head: bool = False  # start the action head from random initialisation on init_from's VLM
    # (with the reasoning_following override): the head ablations of stage 2 on one shared VLM
    token_attention: bool | None = None  # override: True gives the head cross-attention to the VLM's
    # token states (action_head.py); on an init_from head without it, the new layers start with zero output
    pooled_embeddings: bool | None = None  # override: False leaves the pooled embeddings out of the head's
    # conditions (needs token_attention), so it must read the tokens
    target_locator: bool | None = None  # override: True gives the head a target locator (target_locator.py;
    # stage 2 trains it on the simulator's ground truth); on an init_from head without it, it starts with zero effect
    locator_query: str | None = None  # override of action_head.locator_query ("clause" | "digit-and-place"):
    # what the locator's pointer query is built from; only with a locator that is new (or of that query)
    locator_loss_weight: float | None = None  # override of ChatVLA2Config.locator_loss_weight
    image_crops: dict | None = None  # region-of-interest views of a fresh model (ChatVLA2Config.image_crops)


@dataclass
class DataSection:
    episodes_dir: str | list[str] = "data/episodes/math"  # HDF5 episode folder(s) (`chatvla2 gen-data`)
    image_text_dir: str | list[str] | None = None  # image-text QA folder(s) (`chatvla2 gen-data --task qa`)
    image_text_fraction: float = 0.25  # stage 1: share of batches that are image-text QA
    questions: list[str] | None = None  # keep only image-text pairs asking one of these (None: all);
    # the reading warm-up uses ["what does the board say?"]
    arithmetic_fraction: float = 0.0  # share of image-text samples that are text-only arithmetic
    # facts ("what is the answer to 9 - 3?" -> "9 - 3 = 6", every single-digit equation): the tiny
    # model's stand-in for the arithmetic a pretrained language model already knows
    reasoning_text_fraction: float = 0.0  # share of image-text samples that are the math reasoning
    # from text ("the board says 3 + 4 and the cards say 2 7 5; which card shows the answer?" -> the
    # reasoning word for word): the chain after reading, in the assistant's own words
    counterfactual_row_fraction: float = 0.0  # share of robot samples (stage 1) whose reasoning gets
    # its card row reordered and the place to match, LM loss on the place only, no action loss
    # (train/stages.counterfactual_row): the place must follow the written row, not the picture
    cameras: list[str] = field(default_factory=lambda: ["front"])  # cameras fed to the model
    frame_stride: int = 1  # use every n-th frame of an episode as a training sample
    state_noise_std: float = 0.0  # robot samples: Gaussian noise added to the state the head is given
    # (not to its targets), in units of each state dimension's spread over the data (action_stats'
    # state_std): the head learns to return to the demonstrated path from off-path states and cannot
    # read the target card off the state alone (the copycat shortcut; DART-style)
    mismatched_reasoning_fraction: float = 0.0  # stage 2, a head with a target locator: share of samples
    # whose pooled reasoning embedding is another sample's of the batch (the locator still reads the
    # sample's own reasoning tokens), so where to go must come from the located target, not from a
    # habit the mean carries ("an answer named third lies in the third slot"; CHANGELOG.md, v10)
    cache_frame_embeddings: bool = False  # stage 2: embed every frame once with the frozen VLM and
    # train the head on the kept embeddings (train/frame_cache.py; memory 2 x hidden size per frame)


@dataclass
class OptimSection:
    lr: float = 3e-4  # peak learning rate (the paper: 2e-5 for the 2B model)
    head_lr: float | None = None  # action head learning rate; None: same as lr
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    grad_clip_norm: float = 1.0
    betas: tuple[float, float] = (0.9, 0.95)


@dataclass
class TrainConfig:
    stage: int = 1
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    steps: int = 1000  # optimizer steps in total (a resumed run continues to this number)
    batch_size: int = 8  # samples per process per step
    seed: int = 0
    out_dir: str = "runs/tiny_stage1"  # checkpoints/, metrics.jsonl, metrics.csv, curves.png, final/
    checkpoint_every: int = 200  # steps between resumable checkpoints
    keep_checkpoints: int = 2  # older resumable checkpoints are deleted
    log_every: int = 10  # steps between metric rows
    num_threads: int = 2  # torch CPU threads per process
    device: str = "auto"  # auto | cpu | cuda
    max_minutes: float | None = None  # stop (after a checkpoint) when the wall clock passes this
    distributed: str = "ddp"  # ddp: a full replica per process | fsdp: FSDP2 shards weights, gradients
    # and optimizer state over the processes (the paper preset; stage 1 only; src/chatvla2/train/fsdp.py)
    fsdp_param_dtype: str | None = None  # fsdp: dtype of the gathered weights in forward/backward,
    # bfloat16 | float32 (None: bfloat16); master weights, AdamW state and gradient reduction stay float32
    activation_checkpointing: bool = False  # fsdp: recompute decoder layers, vision blocks and head
    # blocks in backward instead of keeping their activations

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be 1 or 2, got {self.stage}")
        if not 0.0 <= self.data.image_text_fraction <= 1.0:
            raise ValueError(f"data.image_text_fraction must be in [0, 1], got {self.data.image_text_fraction}")
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "num_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("arithmetic_fraction", "reasoning_text_fraction", "counterfactual_row_fraction"):
            if not 0.0 <= getattr(self.data, name) <= 1.0:
                raise ValueError(f"data.{name} must be in [0, 1], got {getattr(self.data, name)}")
        if self.data.arithmetic_fraction + self.data.reasoning_text_fraction > 1.0:
            raise ValueError("data.arithmetic_fraction + data.reasoning_text_fraction must be <= 1, got "
                             f"{self.data.arithmetic_fraction + self.data.reasoning_text_fraction}")
        if self.stage == 1 and self.data.image_text_fraction > 0 and not self.data.image_text_dir:
            raise ValueError("data.image_text_fraction > 0 needs data.image_text_dir (QA files)")
        if not self.data.cameras:
            raise ValueError("data.cameras must name at least one camera")
        if self.model.fresh_head and not self.model.init_from:
            raise ValueError("model.fresh_head needs model.init_from (the VLM the new head is trained on)")
        if self.data.state_noise_std < 0:
            raise ValueError(f"data.state_noise_std must be >= 0, got {self.data.state_noise_std}")
        if not 0.0 <= self.data.mismatched_reasoning_fraction <= 1.0:
            raise ValueError(f"data.mismatched_reasoning_fraction must be in [0, 1], got "
                             f"{self.data.mismatched_reasoning_fraction}")
        if self.data.mismatched_reasoning_fraction > 0 and self.stage != 2:
            raise ValueError("data.mismatched_reasoning_fraction is for stage 2 (the head alone)")
        if self.data.cache_frame_embeddings and self.stage != 2:
            raise ValueError("data.cache_frame_embeddings is for stage 2, where the VLM is frozen; in stage 1 "
                             "the embeddings change with every step")
        self.check_distributed()

    def check_distributed(self) -> None:
        if self.distributed not in DISTRIBUTED_MODES:
            raise ValueError(f"distributed must be one of {DISTRIBUTED_MODES}, got '{self.distributed}'")
        if self.distributed == "ddp":
            for name, default in (("fsdp_param_dtype", None), ("activation_checkpointing", False)):
                if getattr(self, name) != default:
                    raise ValueError(f"{name} needs distributed: fsdp (DDP keeps float32 replicas without "
                                     "recomputation), got distributed: ddp")
            return
        if self.fsdp_param_dtype not in (None, *FSDP_PARAM_DTYPES):
            raise ValueError(f"fsdp_param_dtype must be one of {FSDP_PARAM_DTYPES}, got '{self.fsdp_param_dtype}'")
        if self.stage != 1:
            raise ValueError("distributed: fsdp is for stage 1, where all 4.44 B parameters train; stage 2 trains "
                             "only the ~1 B head with the VLM frozen and fits distributed: ddp (docs/training.md)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls, raw: Any, where: str):
    """Instantiate dataclass `cls` from a mapping, recursing into nested dataclass fields."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(raw).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    values = {}
    for name, value in raw.items():
        nested = {"model": ModelSection, "data": DataSection, "optim": OptimSection}.get(name)
        if cls is TrainConfig and nested is not None:
            values[name] = _build(nested, value, f"{where}.{name}")
        elif name == "betas":
            values[name] = tuple(float(v) for v in value)
        else:
            values[name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None


def config_from_dict(raw: dict[str, Any], source: str = "config") -> TrainConfig:
    return _build(TrainConfig, raw, source)


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML file; `overrides` are dotted keys ("optim.lr": 1e-4) applied on top."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config '{path}' does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"training config '{path}' is not valid YAML: {error}") from None
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config_from_dict(raw, str(path))


def parse_override(text: str) -> tuple[str, Any]:
    """'optim.lr=1e-4' -> ('optim.lr', 0.0001); the value is parsed as YAML."""
    if "=" not in text:
        raise ValueError(f"override '{text}' must look like key.sub=value")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)
