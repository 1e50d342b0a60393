"""Checkpoints in Hugging Face layout, and building the MoE model from a dense Qwen2-VL.

A checkpoint directory holds:
    config.json              ChatVLA2Config (model_type "chatvla2")
    model.safetensors        all weights (backbone `vlm.*`, action head `head.*`)
    tokenizer.json, tokenizer_config.json, preprocessor_config.json   the processor
    action_stats.json        action min/max and state mean/std (physical units)
A missing or malformed file raises FileNotFoundError / ValueError naming that file.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from chatvla2.model.config import ChatVLA2Config, preset
from chatvla2.model.normalization import ActionStats
from chatvla2.model.processor import ChatVLA2Processor, image_processor_for

CONFIG_FILE, WEIGHTS_FILE, STATS_FILE = "config.json", "model.safetensors", "action_stats.json"


def save_pretrained(model, directory: str | Path) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(model.config.to_dict(), indent=2))
    save_model(model, str(directory / WEIGHTS_FILE))
    model.processor.save_pretrained(directory)
    model.action_stats.save(directory / STATS_FILE)


def load_config(directory: Path) -> ChatVLA2Config:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{directory}' is missing {CONFIG_FILE}")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(raw, dict) or raw.get("model_type") != "chatvla2":
        raise ValueError(f"{path} is not a chatvla2 config (model_type must be 'chatvla2')")
    return ChatVLA2Config.from_dict(raw, source=str(path))


def load_pretrained(directory: str | Path, device: str | torch.device = "cpu"):
    from chatvla2.model.chatvla2 import ChatVLA2Model

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory '{directory}' does not exist")
    config = load_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"checkpoint '{directory}' is missing {WEIGHTS_FILE}")
    processor = ChatVLA2Processor.from_pretrained(directory)
    head = config.action_head
    stats = ActionStats.load(directory / STATS_FILE, head.action_dim, head.state_dim)
    model = ChatVLA2Model(config, processor, action_stats=stats)
    try:
        load_model(model, str(weights), strict=True, device=str(device))
    except (SafetensorError, RuntimeError, OSError) as error:
        raise ValueError(f"{weights} does not match {CONFIG_FILE}: {str(error)[:500]}") from None
    return model.to(device)


def upcycle_from_dense(dense_dir: str | Path, config: ChatVLA2Config | None = None,
                       processor: ChatVLA2Processor | None = None, copy_experts: bool = True):
    """Sparse upcycling of a dense Qwen2-VL directory (transformers' save_pretrained layout).

    The backbone sizes come from the dense checkpoint; `config` supplies the MoE, head and image
    settings (default: the paper preset's). The processor is read from the directory when it has
    tokenizer files, else `processor` must be given. A directory's preprocessor_config.json (the
    pretrained base's pixel budget and patch size) wins over `config`'s min/max pixels.
    `copy_experts=False` leaves the experts randomly initialised (the "no upcycling" ablation).
    """
    from chatvla2.model.backbone import upcycle_backbone
    from chatvla2.model.chatvla2 import ChatVLA2Model

    dense_dir = Path(dense_dir)
    config = config if config is not None else preset("paper")
    vlm = upcycle_backbone(dense_dir, config, copy_experts)
    if processor is None:
        if not (dense_dir / "tokenizer.json").is_file():
            raise FileNotFoundError(f"dense checkpoint '{dense_dir}' is missing tokenizer.json; pass a processor")
        from transformers import AutoTokenizer

        if (dense_dir / "preprocessor_config.json").is_file():
            from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

            image_processor = Qwen2VLImageProcessorPil.from_pretrained(dense_dir)
            config.min_pixels, config.max_pixels = image_processor.size.shortest_edge, image_processor.size.longest_edge
        else:
            image_processor = image_processor_for(config.min_pixels, config.max_pixels,
                                                  vlm.config.vision_config.patch_size)
        processor = ChatVLA2Processor(AutoTokenizer.from_pretrained(dense_dir), image_processor)
    return ChatVLA2Model(config, processor, vlm=vlm)
