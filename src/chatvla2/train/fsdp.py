"""Sharded training for the paper preset: PyTorch's FSDP2 (`fully_shard`) and its checkpoints (DCP).

`shard_model(model, context, param_dtype, activation_checkpointing)` turns a `ChatVLA2Model` into
an FSDP2 module in place, one shard unit at a time, then the root:
    vision tower blocks             vlm.model.visual.blocks[i]
    decoder layers                  vlm.model.language_model.layers[i]  (the MoE router and all
                                    experts stay in their layer's unit: routing needs them locally)
    action-head blocks              head.blocks[i], and each block's adaLN_modulation as a unit of
                                    its own (the head computes every block's modulation before it
                                    runs the blocks, i.e. outside the block's forward)
    root                            embeddings, lm_head, merger, the head's input/condition layers
Each unit all-gathers its parameters in `param_dtype` for forward and backward and reduce-scatters
gradients in float32 (`MixedPrecisionPolicy`); the sharded master weights and AdamW state stay
float32. Decoder layers reduce-scatter a zero gradient for an expert that got no token on this rank
(`set_reduce_scatter_unused_params`, the counterpart of DDP's find_unused_parameters), so every
rank issues the same collectives. Activation checkpointing (torch's non-reentrant
`checkpoint_wrapper`) recomputes decoder layers, head blocks and vision blocks (at the paper's
image size the vision tower's activations outweigh the decoder's) in backward; the MoE block's
routing context (which tokens are images / padding, set by the model around its forward) is put
back for the recompute, and the RNG state too (router noise), so the recompute is the forward.

Checkpoints: `save_sharded_state` / `load_sharded_state` write and read the model and optimizer
through `torch.distributed.checkpoint` (each rank its shards; loadable at any world size), and
`export_pretrained` gathers the full weights on rank 0 and writes the Hugging Face layout of
`ChatVLA2Model.save_pretrained`. Sharding never changes parameter names: checkpoints and exports
use the plain model's names.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict, get_state_dict,
                                                     set_state_dict)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from chatvla2.model.moe import MoEBlock
from chatvla2.train.distributed import DistributedContext

SHARDED_STATE_DIR = "distributed"  # the DCP folder inside a checkpoint directory


@contextlib.contextmanager
def routing_context_restored(block: MoEBlock, context):
    previous, block.context = block.context, context
    try:
        yield
    finally:
        block.context = previous


def checkpointed(layer: nn.Module) -> nn.Module:
    """`layer` recomputed in backward; an MoE layer recomputes with its forward's routing context."""
    mlp = getattr(layer, "mlp", None)
    if not isinstance(mlp, MoEBlock):
        return checkpoint_wrapper(layer)

    def context_fn():  # called at forward time: capture the context the recompute must see
        return contextlib.nullcontext(), routing_context_restored(mlp, mlp.context)

    return checkpoint_wrapper(layer, context_fn=context_fn)


def shard_model(model, context: DistributedContext, param_dtype: torch.dtype,
                activation_checkpointing: bool):
    """Shard `model` (a ChatVLA2Model) over all ranks in place; returns it (now an FSDPModule)."""
    if not dist.is_initialized():
        raise RuntimeError("FSDP needs a process group: start it with "
                           "distributed.init_distributed(..., always_group=True)")
    mesh = init_device_mesh(context.device.type, (context.world_size,))
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)

    def shard(module: nn.Module) -> nn.Module:
        return fully_shard(module, mesh=mesh, mp_policy=policy)

    language_model = model.vlm.model.language_model
    if activation_checkpointing:  # a training forward needs no KV cache, and a recomputed layer would
        language_model.config.use_cache = False  # append its keys to it a second time
    layers, blocks = language_model.layers, model.head.blocks
    for index, block in enumerate(blocks):
        shard(block.adaLN_modulation)
        blocks[index] = shard(checkpointed(block) if activation_checkpointing else block)
    for index, layer in enumerate(layers):
        layers[index] = shard(checkpointed(layer) if activation_checkpointing else layer)
        if isinstance(layer.mlp, MoEBlock) and hasattr(layers[index], "set_reduce_scatter_unused_params"):
            layers[index].set_reduce_scatter_unused_params(True, recurse=False)  # torch >= 2.12
    vision_blocks = model.vlm.model.visual.blocks
    for index, block in enumerate(vision_blocks):
        vision_blocks[index] = shard(checkpointed(block) if activation_checkpointing else block)
    return shard(model)


def save_sharded_state(model: nn.Module, optimizer: torch.optim.Optimizer, directory: Path) -> None:
    """Every rank writes its shards of the model and the optimizer (collective)."""
    model_state, optimizer_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=str(directory))


def load_sharded_state(model: nn.Module, optimizer: torch.optim.Optimizer, directory: Path) -> None:
    """Read a DCP checkpoint written at any world size into this rank's shards (collective)."""
    if not (directory / ".metadata").is_file():
        raise FileNotFoundError(f"sharded checkpoint '{directory}' is missing .metadata: it is incomplete")
    model_state, optimizer_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optimizer": optimizer_state}
    dcp.load(state, checkpoint_id=str(directory))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])


def export_pretrained(model, directory: Path, is_main: bool) -> None:
    """Gather the full weights on rank 0 (collective) and write them in Hugging Face layout there."""
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not is_main:
        return
    from chatvla2.model.chatvla2 import ChatVLA2Model

    with torch.random.fork_rng(devices=[]):  # building the copy must not move this rank's RNG
        plain = ChatVLA2Model(model.config, model.processor, action_stats=model.action_stats)
    plain.load_state_dict(full, strict=True)
    plain.save_pretrained(directory)
