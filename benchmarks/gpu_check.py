"""The two phases of benchmarks/gpu_check.sh, each writing a markdown table (random weights).

    python benchmarks/gpu_check.py inference  --preset paper --device cuda --out OUT/inference.md
    python benchmarks/gpu_check.py train-step --preset paper --device cuda --out OUT/train_step.md

inference: the model's own steps, timed one by one (median of --repeats after a warm-up): prefill
of one observation, greedy reasoning tokens/s over the KV cache (model/decoding.py), the action
head's DDIM chunk (sample_actions, 10 steps) eager, with the token path torch.compile'd as the
runtime does (--compile-head), and as one replayed CUDA graph (--cuda-graph: the real sampler's
10-step loop over the real head, captured once; a measurement of what capture gives, not a
runtime mode); then `chatvla2 bench`'s table (policy/speed_benchmark.py): the naive baseline and
our runtime, sync and async, chunks/s, p50/p99 latency and peak memory, in the same run.
train-step: one process, one device: the model sharded by train/fsdp.py (FSDP2 over a mesh of
one, bf16 gathered weights, activation checkpointing), AdamW as the trainer makes it, random
robot samples; seconds per step and peak memory against benchmarks/fsdp_memory.py's arithmetic.
Peak memory is torch.cuda.max_memory_allocated on CUDA, sampled resident memory (RSS) on the CPU.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from chatvla2.policy.speed_benchmark import INSTRUCTION, PeakMemory, build_random_model

REASONING = "the board says 3 + 4; 3 + 4 = 7; the card 7 is first from the left"
TARGET_HZ = 30.0  # the paper's reported inference rate (OpenReview rebuttal)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_ms(run, device: str, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def camera_frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (240, 320, 3), dtype=np.uint8)  # (H, W, 3), the paper's


def denoising_loop(model, observation: torch.Tensor, reasoning: torch.Tensor, state: torch.Tensor, steps: int):
    """`scheduler.ddim_sample` over `head.tokens` with the chunk's conditions computed beforehand
    (the runtime's precomputed path): a function with no host sync, so CUDA can capture it. Each
    step takes its modulation rows by call order, since a graph cannot read the timestep back."""
    head, batch = model.head, state.shape[0]
    state = model.action_stats.normalize_state(state)  # (B, S), as sample_actions does
    timesteps = torch.tensor(model.scheduler.inference_timesteps(steps), device=state.device)
    blocks, final = head.modulations(head.conditions(timesteps.repeat_interleave(batch), state, observation,
                                                     reasoning))  # (K*B, 6W) per block, (K*B, 2W)
    state_token = head.state_in(state)[:, None]  # (B, 1, W)
    shape = (batch, model.config.action_head.horizon, model.config.action_head.action_dim)

    def chunk() -> torch.Tensor:
        order = itertools.count()

        def predict_noise(sample: torch.Tensor, _timesteps: torch.Tensor) -> torch.Tensor:
            step = next(order)
            rows = slice(step * batch, (step + 1) * batch)
            return head.tokens(sample, state_token, [m[rows] for m in blocks], final[rows])

        return model.scheduler.ddim_sample(predict_noise, shape, steps, None, state.device, state.dtype)

    return chunk


def captured(run):
    """`run` captured once as a CUDA graph; returns the replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the capture stream, as CUDA graphs require
        for _ in range(3):
            run()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run()
    return graph.replay


@torch.inference_mode()
def model_step_rows(model, device: str, tokens: int, repeats: int, compile_head: bool, cuda_graph: bool) -> list:
    """(what, value, unit) for prefill, decoding and the head's chunk."""
    from chatvla2.model.decoding import decode_greedy, prefill
    from chatvla2.model.normalization import ActionStats

    head = model.config.action_head
    rng = np.random.default_rng(0)  # statistics that are not the identity, so normalisation is checked too
    model.set_action_stats(ActionStats.from_data(rng.normal(size=(64, head.action_dim)),
                                                 rng.normal(0.5, 2.0, size=(64, head.state_dim))))
    for parameter in model.head.parameters():  # AdaLN-zero layers start at 0: the head would ignore its
        if not parameter.any():  # inputs, and the loop comparison below would compare nothing
            parameter.normal_(0.0, 0.02)

    inputs = model.prefill_inputs({"front": camera_frame()}, INSTRUCTION)
    inputs["pixel_values"] = inputs["pixel_values"].to(next(model.parameters()).dtype)
    rows = [("prefill, one 320x240 camera", median_ms(lambda: prefill(model, inputs), device, repeats), "ms")]
    decode_ms = median_ms(lambda: decode_greedy(model, prefill(model, inputs, keep_cache=True), tokens,
                                                stop_at_end=False), device, repeats)
    rows.append((f"reasoning, {tokens} tokens (prefill included)", tokens / (decode_ms / 1e3), "tokens/s"))
    prefilled = prefill(model, inputs)
    embedding = prefilled.observation_embedding  # (1, D): stands in for the reasoning embedding too
    state = torch.full((1, head.state_dim), 0.3, dtype=embedding.dtype, device=embedding.device)  # (1, S)
    steps = head.inference_steps
    head_ms = median_ms(lambda: model.sample_actions(embedding, embedding, state, steps=steps), device, repeats)
    rows.append((f"head chunk, {steps} DDIM steps, eager", head_ms, "ms"))
    loop = denoising_loop(model, embedding, embedding, state, steps)
    torch.manual_seed(0)
    expected = model.sample_actions(embedding, embedding, state, steps=steps)  # (1, H, A)
    torch.manual_seed(0)
    difference = (model.action_stats.unnormalize_actions(loop()) - expected).abs().max()
    rows.append(("capturable loop vs sample_actions, same noise: largest difference", float(difference), ""))
    if compile_head:
        rows += optional_rows(f"head chunk, {steps} DDIM steps, torch.compile", lambda: compiled_head_rows(
            model, embedding, state, steps, device, repeats))
    if cuda_graph:
        rows += optional_rows(f"head chunk, {steps} DDIM steps, CUDA graph replay", lambda: [(
            f"head chunk, {steps} DDIM steps, CUDA graph replay",
            median_ms(captured(loop), device, repeats), "ms")])
    return rows


def compiled_head_rows(model, embedding: torch.Tensor, state: torch.Tensor, steps: int, device: str,
                       repeats: int) -> list:
    eager_tokens = model.head.tokens
    model.head.tokens = torch.compile(eager_tokens, mode="max-autotune-no-cudagraphs")  # as the runtime does
    try:
        start = time.perf_counter()
        model.sample_actions(embedding, embedding, state, steps=steps)
        compile_s = time.perf_counter() - start
        compiled_ms = median_ms(lambda: model.sample_actions(embedding, embedding, state, steps=steps), device,
                                repeats)
    finally:
        model.head.tokens = eager_tokens
    return [("head: torch.compile time (first call)", compile_s, "s"),
            (f"head chunk, {steps} DDIM steps, torch.compile", compiled_ms, "ms")]


def optional_rows(what: str, measure) -> list:
    """An optional speed-up's rows, or one row saying why it failed: the table keeps the others."""
    try:
        return measure()
    except Exception as error:  # noqa: BLE001 - any failure of an optional path is a result to report
        return [(what, f"failed: {type(error).__name__}: {str(error).splitlines()[0][:100]}", "")]


def inference(args) -> str:
    from chatvla2.control.robot import load_robot_spec
    from chatvla2.policy.speed_benchmark import format_table, run_speed_benchmark

    dtype = torch.bfloat16 if args.bf16 else torch.float32
    # The runtime table first: on torch 2.11 a CUDA graph capture (the model-step rows' last row)
    # leaves the default CUDA generator refusing later random init ("Offset increment outside graph
    # capture"), which building the benchmark's models would hit.
    speed = run_speed_benchmark(args.preset, args.device, args.reasoning_tokens, args.frames, args.naive_frames,
                                args.refresh_every_frames, args.bf16, args.compile_head,
                                load_robot_spec("franka_fr3"), repeats=1)
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    torch.manual_seed(0)
    model = build_random_model(args.preset, args.device, dtype)
    with PeakMemory(args.device) as memory:
        rows = model_step_rows(model, args.device, args.reasoning_tokens, args.repeats, args.compile_head,
                               args.cuda_graph)
    rows.append(("peak memory, model steps", memory.mib, "MiB"))
    async_row = next(row for row in speed if row.name == "async")
    verdict = "met" if async_row.chunks_per_s >= TARGET_HZ else "not met"
    lines = [f"### Inference, preset {args.preset}, {args.device}, {'bf16' if args.bf16 else 'fp32'}, random weights",
             "", "| model step | value | unit |", "|---|---|---|"]
    lines += [f"| {what} | {value:.4g} | {unit} |" if isinstance(value, float) else f"| {what} | {value} | {unit} |"
              for what, value, unit in rows]
    lines += ["", f"Runtime (`chatvla2 bench`, {args.frames} async frames, {args.naive_frames} naive/sync frames, "
                  f"head compiled: {args.compile_head}); target {TARGET_HZ:.0f} chunks/s async: {verdict}", "",
              format_table(speed)]
    return "\n".join(lines)


def train_step(args) -> str:
    from fsdp_memory import estimate, peak_bytes, sample_shape  # beside this script
    from chatvla2.train import distributed, fsdp
    from chatvla2.train.config import DataSection, OptimSection, TrainConfig
    from chatvla2.train.trainer import make_optimizer

    context = distributed.init_distributed(args.device, always_group=True)
    config = TrainConfig(distributed="fsdp", activation_checkpointing=True, device=args.device,
                         data=DataSection(image_text_fraction=0.0), optim=OptimSection(lr=2e-5))
    torch.manual_seed(0)
    model = build_random_model(args.preset, args.device, torch.float32).train()  # float32 master weights
    fsdp.shard_model(model, context, torch.bfloat16, activation_checkpointing=True)
    optimizer = make_optimizer(model, config)
    head = model.config.action_head
    frames = [camera_frame(seed) for seed in range(args.batch)]
    batch = model.processor.collate([model.processor.encode({"front": frame}, INSTRUCTION, REASONING)
                                     for frame in frames])
    state = torch.randn(args.batch, head.state_dim)  # (B, S)
    actions = torch.rand(args.batch, head.horizon, head.action_dim) * 2 - 1  # (B, H, A)
    times, outcome = [], "completed"
    try:
        with PeakMemory(args.device) as memory:
            for _ in range(args.steps):
                synchronize(args.device)
                start = time.perf_counter()
                loss = model(batch, state=state.to(context.device), actions=actions.to(context.device)).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                synchronize(args.device)
                times.append(time.perf_counter() - start)
    except torch.OutOfMemoryError as error:  # one 80 GB card holds no full AdamW replica (docs/training.md)
        outcome = f"out of memory ({str(error).splitlines()[0][:120]})"
    rows = estimate(model.config, 1, args.batch, sample_shape(model.config), 2, True)
    distributed.shutdown(context)
    step_s = statistics.median(times[1:] or times) if times else float("nan")
    return "\n".join([
        f"### One FSDP2 training step, preset {args.preset}, {args.device}, world size 1, {args.batch} samples",
        "", "| what | value |", "|---|---|",
        f"| outcome | {outcome} |",
        f"| seconds per step (median after the first) | {step_s:.3f} |",
        f"| peak memory, measured | {memory.mib / 1024:.2f} GiB |",
        f"| peak memory, arithmetic (fsdp_memory.py, same batch) | {peak_bytes(rows) / 2 ** 30:.2f} GiB |"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=("inference", "train-step"))
    parser.add_argument("--preset", choices=("tiny", "paper"), default="paper")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", required=True, help="markdown file the phase's table is written to")
    parser.add_argument("--repeats", type=int, default=10, help="timed repetitions per model step")
    parser.add_argument("--reasoning-tokens", type=int, default=32)
    parser.add_argument("--frames", type=int, default=150, help="async frames timed by the runtime benchmark")
    parser.add_argument("--naive-frames", type=int, default=5, help="naive and sync frames")
    parser.add_argument("--refresh-every-frames", type=int, default=30)
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile-head", action="store_true", help="torch.compile the head's token path")
    parser.add_argument("--cuda-graph", action="store_true", help="time the head's chunk as a CUDA graph replay")
    parser.add_argument("--batch", type=int, default=8, help="train-step: samples in the step")
    parser.add_argument("--steps", type=int, default=3, help="train-step: steps run (the first warms up)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"device '{args.device}' requested but torch sees no CUDA device")
    if args.cuda_graph and not args.device.startswith("cuda"):
        raise SystemExit("--cuda-graph needs a CUDA device")
    table = inference(args) if args.phase == "inference" else train_step(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
