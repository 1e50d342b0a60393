"""The ChatVLA-2 model: MoE Qwen2-VL backbone and reasoning-following diffusion action head.

Public API (torch and transformers are imported only when one of these names is used):
    ChatVLA2Model, ChatVLA2Output, DecodedReasoning   chatvla2.py
    ChatVLA2Config, MoEConfig, ActionHeadConfig, preset   config.py
    ChatVLA2Processor                          processor.py
    ActionStats                                normalization.py
"""
from __future__ import annotations

import importlib

EXPORTS = {
    "ChatVLA2Model": "chatvla2", "ChatVLA2Output": "chatvla2", "DecodedReasoning": "chatvla2",
    "ChatVLA2Config": "config", "MoEConfig": "config", "ActionHeadConfig": "config", "preset": "config",
    "ChatVLA2Processor": "processor", "ActionStats": "normalization",
}


def __getattr__(name: str):
    if name not in EXPORTS:
        raise AttributeError(f"module 'chatvla2.model' has no attribute '{name}'")
    return getattr(importlib.import_module(f"chatvla2.model.{EXPORTS[name]}"), name)
