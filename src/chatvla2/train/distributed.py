"""Process-group set-up for one entry point on 1 CPU, 1 GPU, or many GPUs/machines via torchrun.

torchrun (or `accelerate launch`, which sets the same variables) exports RANK, WORLD_SIZE and
LOCAL_RANK; without them the run is a single process and no process group is created, unless the
caller needs one anyway (FSDP shards over a device mesh even of one process: then a one-process
group on an in-memory store). The backend is NCCL when each process owns a CUDA device and gloo
otherwise, so the multi-process path is tested on the CPU with gloo. `wrap_model` wraps a model in
DistributedDataParallel with `find_unused_parameters=True`, because MoE experts that receive no
token in a step and the action head on an image-text batch take no gradient (the FSDP2 path is
train/fsdp.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_process_group: bool = False  # this process started the group and must destroy it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} must be an integer (set by torchrun)") from None


def init_distributed(device: str = "auto", always_group: bool = False) -> DistributedContext:
    """Start the process group when launched by torchrun (or always, with `always_group`); pick this
    process's device."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' requested but CUDA is not available")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        chosen = torch.device("cuda", local_rank)
    else:
        chosen = torch.device("cpu")
    started = (world_size > 1 or always_group) and not dist.is_initialized()
    if started and world_size > 1:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    elif started:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", store=dist.HashStore(), rank=0, world_size=1)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=chosen,
                              owns_process_group=started)


def wrap_model(model: torch.nn.Module, context: DistributedContext) -> torch.nn.Module:
    if not context.enabled:
        return model
    device_ids = [context.local_rank] if context.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def mean_across_ranks(values: dict[str, float], context: DistributedContext) -> dict[str, float]:
    """Average logged scalars over processes so rank 0's log describes the whole step."""
    if not context.enabled or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64,
                          device=context.device if context.device.type == "cuda" else "cpu")
    dist.all_reduce(tensor)
    tensor /= context.world_size
    return dict(zip(keys, tensor.tolist()))


def gather_to_main(value, context: DistributedContext) -> list | None:
    """Every rank's picklable `value`, in rank order, on rank 0 (None elsewhere)."""
    if not context.enabled:
        return [value]
    gathered = [None] * context.world_size if context.is_main else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def shutdown(context: DistributedContext) -> None:
    if (context.enabled or context.owns_process_group) and dist.is_initialized():
        dist.destroy_process_group()
