"""Inference speed, side by side in one run: a naive baseline against our runtime (sync, async).

    naive        Hugging Face `generate` for the reasoning (fixed token count), then a plain DDPM
                 loop over every training timestep, on every frame: what a first port would do.
    naive+ddim   the same, with the few-step DDIM sampler: isolates the sampler's share.
    sync         our runtime, reason then act on every frame (the paper's evaluation mode).
    async        our runtime, reasoning refreshed in the background (every K frames / scene change).
    async, per-step head  the same, with the head computing its conditions and AdaLN modulations
                 at every DDIM step instead of once per chunk: the A/B of that optimisation.
Every path is first warmed up with `policy/warmup.py` (what the inference node does at configure);
the warm-up's time is its own column, the other columns are the steady state after it.
Weights are random (speed does not depend on their values) and every reasoning decodes exactly
`reasoning_tokens` tokens. Frames come back to back (the runtime's own ceiling, no camera pacing);
each is the same scene plus sensor noise, so async refreshes are the periodic ones.
"""
from __future__ import annotations

import dataclasses
import math
import os
import platform
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from chatvla2.control.robot import RobotSpec
from chatvla2.policy.interface import Observation, PolicyOutput
from chatvla2.policy.reasoning_scheduler import ReasoningScheduleConfig
from chatvla2.policy.runtime import AsyncReasoningRuntime, RuntimeConfig
from chatvla2.model.decoding import PREFILL_INPUTS, Prefilled, ReasoningStates
from chatvla2.policy.runtime_model import ChatVLA2TwoRateModel
from chatvla2.policy.warmup import warm_up

INSTRUCTION = "pick the card that answers the equation on the board"


@dataclass(frozen=True)
class SpeedRow:
    name: str
    chunks_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    peak_memory_mb: float
    reasoning_hz: float
    warm_up_s: float = float("nan")  # the shared warm-up before the timed frames (two rounds)


def build_random_model(preset_name: str, device: str, dtype: torch.dtype, token_attention: bool = False,
                       target_locator: bool = False, locator_query: str = "clause"):
    """A randomly initialised ChatVLA2Model of a preset, built on `device`, with the tiny tokenizer
    (`token_attention`: its head cross-attends to the VLM's token states; `target_locator`: its head
    locates the named card among them, its pointer's query built as `locator_query` says; docs/model.md).

    The paper preset normally takes the operator's Qwen2-VL tokenizer; for speed the vocabulary's
    content is irrelevant, so the tiny tokenizer is used with the paper's sizes (its special token
    ids are patched into the backbone config; the vocabulary size stays the paper's)."""
    from chatvla2.model.chatvla2 import ChatVLA2Model
    from chatvla2.model.config import preset
    from chatvla2.model.processor import ChatVLA2Processor, image_processor_for
    from chatvla2.model.tokenizer import build_tiny_tokenizer, tiny_special_token_ids

    config = preset(preset_name)
    config.action_head = dataclasses.replace(config.action_head, token_attention=token_attention,
                                             target_locator=target_locator, locator_query=locator_query)
    if preset_name != "tiny":
        ids = tiny_special_token_ids()
        config.backbone.update(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                               vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    processor = ChatVLA2Processor(build_tiny_tokenizer(), image_processor_for(config.min_pixels, config.max_pixels, config.patch_size))
    with torch.device(device):
        model = ChatVLA2Model(config, processor)
    return model.to(dtype).eval()


class NaiveBaseline:
    """Reason with `generate`, act with a full DDPM loop, every frame. A `Policy`."""

    def __init__(self, model, robot: RobotSpec, reasoning_tokens: int, ddim_steps: int | None = None) -> None:
        self.model, self.robot, self.tokens, self.ddim_steps = model, robot, reasoning_tokens, ddim_steps
        self.dtype = next(model.head.parameters()).dtype

    def reset(self) -> None:
        pass

    @torch.no_grad()
    def infer(self, observation: Observation) -> PolicyOutput:
        model = self.model
        batch = model.processor(observation.images, observation.instruction)
        inputs = {key: batch[key].to(model.device) for key in PREFILL_INPUTS if key in batch}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        model.vlm.model.rope_deltas = None
        out = model.vlm.generate(**inputs, max_new_tokens=self.tokens, min_new_tokens=self.tokens,
                                 do_sample=False, output_hidden_states=True, return_dict_in_generate=True)
        prompt_hidden = out.hidden_states[0][-1]  # (1, T, D)
        generated = torch.cat([step[-1] for step in out.hidden_states[1:]], dim=1)  # (1, n - 1, D)
        observation_embedding, reasoning_embedding = prompt_hidden.mean(dim=1), generated.mean(dim=1)
        context = None
        if model.config.action_head.reads_tokens:  # the same token states, positions from the prompt
            positions, rope_delta = model.vlm.model.get_rope_index(
                inputs["input_ids"], inputs["mm_token_type_ids"], image_grid_thw=inputs.get("image_grid_thw"))
            prompt = Prefilled(observation_embedding, hidden=prompt_hidden, position_ids=positions,
                               rope_delta=rope_delta, length=prompt_hidden.shape[1])
            context = model.inference_context(prompt, ReasoningStates(reasoning_embedding, generated))
        state = torch.as_tensor(observation.joint_positions, dtype=self.dtype, device=model.device)[None]
        if self.ddim_steps:
            actions = model.sample_actions(observation_embedding, reasoning_embedding, state, steps=self.ddim_steps,
                                           precomputed_conditions=False, context=context)
        else:
            actions = self.ddpm(observation_embedding, reasoning_embedding, model.action_stats.normalize_state(state),
                                context)
        text = model.processor.decode(out.sequences[0, inputs["input_ids"].shape[1]:].tolist())
        return PolicyOutput(text, self.robot.command_names, actions[0].float().cpu().numpy(), model.config.step_dt_s)

    def ddpm(self, observation_embedding, reasoning_embedding, state, context=None) -> torch.Tensor:
        """Ancestral DDPM sampling over all training timesteps (the textbook loop)."""
        model, head = self.model, self.model.config.action_head
        alphas_cumprod = model.scheduler.alphas_cumprod
        sample = torch.randn((1, head.horizon, head.action_dim), device=model.device, dtype=self.dtype)
        for step in reversed(range(head.train_timesteps)):
            alpha_bar = float(alphas_cumprod[step])
            alpha_bar_prev = float(alphas_cumprod[step - 1]) if step > 0 else 1.0
            alpha = alpha_bar / alpha_bar_prev
            t = torch.full((1,), step, device=model.device, dtype=torch.long)
            eps = model.head(sample, t, state, observation_embedding, reasoning_embedding, context)
            sample = (sample - (1 - alpha) / math.sqrt(1 - alpha_bar) * eps) / math.sqrt(alpha)
            if step > 0:
                sigma = math.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha))
                sample = sample + sigma * torch.randn_like(sample)
        return model.action_stats.unnormalize_actions(sample.clamp(-1.0, 1.0))


class PeakMemory:
    """Peak resident memory (CPU, sampled every 5 ms) or peak allocated CUDA memory, in MiB."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")

    def __enter__(self) -> "PeakMemory":
        self.peak_bytes = 0
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            self.stop = threading.Event()
            self.thread = threading.Thread(target=self.sample, daemon=True)
            self.thread.start()
        return self

    def sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self.stop.wait(0.005):
            with open("/proc/self/statm") as statm:
                self.peak_bytes = max(self.peak_bytes, int(statm.read().split()[1]) * page)

    def __exit__(self, *_) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak_bytes = torch.cuda.max_memory_allocated()
        else:
            self.stop.set()
            self.thread.join()

    @property
    def mib(self) -> float:
        return self.peak_bytes / 2 ** 20


def observations(robot: RobotSpec, count: int, seed: int = 0) -> list[Observation]:
    rng = np.random.default_rng(seed)
    scene = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    out = []
    for index in range(count):
        noise = rng.integers(-3, 4, scene.shape)
        frame = np.clip(scene.astype(np.int16) + noise, 0, 255).astype(np.uint8)  # (240, 320, 3)
        out.append(Observation({"front": frame}, robot.command_names, robot.home_command.copy(),
                               INSTRUCTION, stamp_s=index / 30.0))
    return out


def measure(name: str, policy, frames: list[Observation], warmup: int, device: str) -> SpeedRow:
    """`warmup` frames run untimed first: in async mode they start the reasoning thread's cycle."""
    policy.reset()  # a repeat replays the same stamps: the last run's reasoning must not outlive it
    for observation in frames[:warmup]:
        policy.infer(observation)
    latencies = []
    refreshes_before = getattr(getattr(policy, "worker", None), "finished", 0)
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        for observation in tqdm(frames[warmup:], desc=name, leave=False):
            t0 = time.perf_counter()
            policy.infer(observation)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            latencies.append(time.perf_counter() - t0)
        total_s = time.perf_counter() - start
    worker = getattr(policy, "worker", None)
    count = len(latencies)
    refreshes = (worker.finished - refreshes_before) if worker is not None else count  # others reason every frame
    p50, p99 = np.percentile(np.asarray(latencies) * 1e3, [50, 99])
    return SpeedRow(name, count / total_s, float(p50), float(p99), memory.mib, refreshes / total_s)


def median_run(name: str, policy, frames: list[Observation], warmup: int, device: str,
               repeats: int) -> SpeedRow:
    """The shared warm-up, then `measure` `repeats` times; the run with the median chunk rate (its
    latencies and memory too), with the warm-up's time."""
    warmed = warm_up(policy, frames[0])
    runs = sorted((measure(name, policy, frames, warmup, device) for _ in range(repeats)),
                  key=lambda row: row.chunks_per_s)
    return dataclasses.replace(runs[len(runs) // 2], warm_up_s=warmed.total_s)


def run_speed_benchmark(preset_name: str, device: str, reasoning_tokens: int, frames: int,
                        naive_frames: int, refresh_every_frames: int, bf16: bool, compile_head: bool,
                        robot: RobotSpec, repeats: int = 1, token_attention: bool = False,
                        target_locator: bool = False, locator_query: str = "clause") -> list[SpeedRow]:
    dtype = torch.bfloat16 if bf16 else torch.float32
    torch.manual_seed(0)
    model = build_random_model(preset_name, device, dtype, token_attention, target_locator, locator_query)
    head = model.config.action_head
    rows = []
    for name, ddim in (("naive", None), ("naive+ddim", head.inference_steps)):
        baseline = NaiveBaseline(model, robot, reasoning_tokens, ddim_steps=ddim)
        rows.append(median_run(name, baseline, observations(robot, naive_frames + 2), 2, device, repeats))
    schedule = ReasoningScheduleConfig(refresh_every_frames=refresh_every_frames)

    def timed(name: str, mode: str, count: int, runner: ChatVLA2TwoRateModel) -> SpeedRow:
        runtime = AsyncReasoningRuntime(runner, RuntimeConfig(mode=mode, max_reasoning_tokens=reasoning_tokens,
                                                              schedule=schedule))
        try:
            return median_run(name, runtime, observations(robot, count + 5), 5, device, repeats)
        finally:
            runtime.close()

    # The per-step baseline runs first: `compile_head` compiles the shared model's head in place.
    per_step = ChatVLA2TwoRateModel(model, robot, stop_at_end=False, precomputed_conditions=False)
    per_step_row = timed("async, per-step head", "async", frames, per_step)
    two_rate = ChatVLA2TwoRateModel(model, robot, compile_head=compile_head, stop_at_end=False)
    rows.append(timed("sync", "sync", naive_frames, two_rate))
    rows.append(timed("async", "async", frames, two_rate))
    rows.append(per_step_row)
    return rows


def format_table(rows: list[SpeedRow]) -> str:
    naive = rows[0].chunks_per_s
    lines = ["| path | chunks/s | vs naive | latency p50 (ms) | latency p99 (ms) | peak memory (MiB) | reasoning refresh (Hz) | warm-up (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.name} | {row.chunks_per_s:.2f} | {row.chunks_per_s / naive:.1f}x | "
                     f"{row.latency_p50_ms:.1f} | {row.latency_p99_ms:.1f} | {row.peak_memory_mb:.0f} | "
                     f"{row.reasoning_hz:.2f} | {row.warm_up_s:.2f} |")
    return "\n".join(lines)


def machine_description(device: str) -> str:
    if device.startswith("cuda"):
        accelerator = torch.cuda.get_device_name()
    else:
        accelerator = f"CPU, {torch.get_num_threads()} torch threads"
    load = os.getloadavg()[0]
    return f"{platform.node()}, {os.cpu_count()} CPUs, load {load:.1f}, {accelerator}, torch {torch.__version__}"


def append_results(path, rows: list[SpeedRow], preset_name: str, device: str, command: str, notes: str) -> None:
    """Append the table with machine, date and command to benchmarks/RESULTS.md."""
    heading = (f"\n## inference_speed, preset {preset_name}, {device} ({machine_description(device)}, "
               f"{time.strftime('%Y-%m-%d')}, `{command}`)\n")
    with open(path, "a") as results:
        results.write(heading + format_table(rows) + "\n" + (notes + "\n" if notes else ""))
