"""FSDP2 training on the CPU: 2 processes over gloo (as torchrun runs them), the tiny preset.

One sharded run (float32 gathered weights, activation checkpointing on, 3 steps: robot, text,
robot; checkpoints at steps 2 and 3) is shared by the tests below:
  (a) its per-rank losses and gradient norms match one process that runs both ranks' batches
      itself (gradients accumulated, each rank's RNG stream swapped in), to LOSS_TOLERANCE;
  (b) its step-2 checkpoint, resumed by one process, gives rank 0's step-3 loss again, with the
      optimizer state of step 2;
  (c) its Hugging Face export loads in one plain process and gives the sharded model's logits.
Also: a checkpointed MoE layer recomputes with its forward's routing; bad settings are named; the
paper config selects FSDP; benchmarks/gpu_check.sh's CPU dry run (tiny preset) fills its table.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from chatvla2.model.chatvla2 import TRAINING_INPUTS, ChatVLA2Model
from chatvla2.train.config import config_from_dict, load_train_config
from chatvla2.train.samples import RobotTrainingSet
from chatvla2.train.trainer import Trainer
from train.test_distributed import free_port
from worker_results import worker_results

REPO = Path(__file__).resolve().parents[2]
WORLD = 2
STEPS = 3
LOSS_TOLERANCE = 1e-4  # absolute, per rank and step; measured here: 0 (bit-identical; float32 gathers, and
# the reduce-scatter's halving is exact), the margin is for another BLAS's summation order
LOGIT_TOLERANCE = 1e-5
SHARDED = {"distributed": "fsdp", "fsdp_param_dtype": "float32", "activation_checkpointing": True}
COMMON = {"steps": STEPS, "seed": 2, "checkpoint_every": 2, "keep_checkpoints": 2}

WORKER = """
import json, resource, sys
import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict
from chatvla2.model.chatvla2 import TRAINING_INPUTS
from chatvla2.train.config import config_from_dict
from chatvla2.train.trainer import Trainer

def optimizer_summary(trainer):
    # Per parameter name: AdamW's step count and the norms of both moments, gathered whole.
    full = get_optimizer_state_dict(trainer.model, trainer.optimizer,
                                    options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {name: [float(s["step"]), float(s["exp_avg"].norm()), float(s["exp_avg_sq"].norm())]
            for name, s in full.get("state", {}).items()}

def rss_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

rss_after_imports = rss_mib()
config, role, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
resume = config.pop("resume", None)
trainer = Trainer(config_from_dict(config), resume=resume, show_progress=False)
result = {"rank": trainer.context.rank, "world": trainer.context.world_size, "losses": [], "grad_norms": [],
          "kinds": [trainer.draw(step)[0] for step in range(trainer.config.steps)]}
if role == "resume":
    result["optimizer"] = optimizer_summary(trainer)
train_step = trainer.train_step
def recorded(step):
    values = train_step(step)
    result["losses"].append(values["loss"])
    result["grad_norms"].append(values["grad_norm"])
    if role == "sharded" and step == 1:  # the state the step-2 checkpoint holds
        result["optimizer"] = optimizer_summary(trainer)
    return values
trainer.train_step = recorded
trainer.run()
if role == "sharded":  # the trained sharded model's logits on one observation (a collective)
    model = trainer.model.eval()
    batch = model.processor(trainer.dataset.first_frame(0), trainer.dataset.text[0][0])
    model.unshard()
    with torch.no_grad():
        model.vlm.model.rope_deltas = None
        logits = model.vlm(**{key: batch[key] for key in TRAINING_INPUTS if key in batch}).logits
    model.reshard()
    if trainer.context.is_main:
        torch.save(logits, out)
result["rss_after_imports_mib"] = rss_after_imports
result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(result), flush=True)
trainer.close()
"""


def launch(raw: dict, role: str, out: Path, world: int, port: int) -> list[dict]:
    """`world` worker processes with torchrun's environment (none for one process); their RESULTs."""
    processes = []
    for rank in range(world):
        env = dict(os.environ, OMP_NUM_THREADS="1")
        if world > 1:
            env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                       MASTER_PORT=str(port))
        processes.append(subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(raw), role, str(out)], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return sorted(worker_results(processes), key=lambda r: r["rank"])


_SHARDED_RUN: dict = {}


@pytest.fixture
def sharded_run(tiny_config, tmp_path_factory) -> dict:
    """The 2-process sharded run, made once for this module (pytest cannot share a run between
    tests through a function-scoped fixture such as tiny_config otherwise)."""
    if not _SHARDED_RUN:
        root = tmp_path_factory.mktemp("fsdp")
        raw = tiny_config(root / "sharded", **COMMON, **SHARDED)
        results = launch(raw, "sharded", root / "logits.pt", WORLD, free_port())
        _SHARDED_RUN.update(raw=raw, root=root, results=results, logits=torch.load(root / "logits.pt"))
    return _SHARDED_RUN


@pytest.mark.integration
@pytest.mark.timeout(400)
def test_sharded_losses_match_one_process_on_the_same_samples(sharded_run, tiny_config, tmp_path):
    results = sharded_run["results"]
    assert [r["world"] for r in results] == [WORLD, WORLD]
    assert set(results[0]["kinds"]) == {"robot", "text"}  # the head takes no gradient on a text step
    reference = Trainer(config_from_dict(tiny_config(tmp_path / "one", **COMMON)), show_progress=False)
    streams, largest = [], 0.0
    for rank in range(WORLD):  # the RNG stream each rank's trainer seeds (router noise, diffusion noise)
        torch.manual_seed(reference.config.seed + rank)
        streams.append(torch.get_rng_state())
    for step in range(STEPS):
        reference.optimizer.zero_grad(set_to_none=True)
        for rank in range(WORLD):
            torch.set_rng_state(streams[rank])
            loss, _ = reference.forward_loss(step, rank)
            (loss / WORLD).backward()  # FSDP averages the ranks' gradients
            streams[rank] = torch.get_rng_state()
            difference = abs(loss.item() - results[rank]["losses"][step])
            largest = max(largest, difference)
            assert difference <= LOSS_TOLERANCE, f"step {step} rank {rank}: |{loss.item()} - sharded| = {difference}"
        # Clipping and AdamW hide the gradient's scale from the losses; the norm shows it.
        assert reference.apply_gradients() == pytest.approx(results[0]["grad_norms"][step], rel=1e-5)
    print(f"largest loss difference {largest:.2e}; per rank, peak RSS (getrusage ru_maxrss) "
          f"{[round(r['max_rss_mib']) for r in results]} MiB, of which after imports "
          f"{[round(r['rss_after_imports_mib']) for r in results]} MiB; this process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


@pytest.mark.integration
@pytest.mark.timeout(400)
def test_a_checkpoint_of_two_processes_resumes_in_one_with_the_same_next_loss(sharded_run, tmp_path):
    checkpoint = Path(sharded_run["raw"]["out_dir"]) / "checkpoints" / "step_000002"
    assert (checkpoint / "distributed" / ".metadata").is_file() and (checkpoint / "model.safetensors").is_file()
    raw = {**sharded_run["raw"], "out_dir": str(tmp_path / "resumed"), "resume": str(checkpoint)}
    [resumed] = launch(raw, "resume", tmp_path / "unused", 1, 0)
    assert resumed["world"] == 1 and len(resumed["losses"]) == 1  # only step 3 was left
    sharded = sharded_run["results"][0]
    assert resumed["losses"][0] == pytest.approx(sharded["losses"][2], abs=1e-6)
    print(f"step 3: rank 0 of 2 {sharded['losses'][2]!r}, resumed in 1 process {resumed['losses'][0]!r}")
    # Step 1 was a text batch: the head's AdamW state is one step behind the VLM's.
    assert {moments[0] for moments in sharded["optimizer"].values()} == {1.0, 2.0}
    assert resumed["optimizer"].keys() == sharded["optimizer"].keys()
    for name, moments in sharded["optimizer"].items():
        assert resumed["optimizer"][name] == pytest.approx(moments, rel=1e-6, abs=1e-12), name


@pytest.mark.integration
@pytest.mark.timeout(400)
def test_the_export_loads_in_one_process_and_gives_the_same_logits(sharded_run):
    final = Path(sharded_run["raw"]["out_dir"]) / "final"
    model = ChatVLA2Model.from_pretrained(final).eval()
    data = sharded_run["raw"]["data"]  # the probe observation: the first frame of the run's first episode
    dataset = RobotTrainingSet(data["episodes_dir"], data["cameras"], model.config.action_head.horizon)
    batch = model.processor(dataset.first_frame(0), dataset.text[0][0])
    with torch.no_grad():
        logits = model.vlm(**{key: batch[key] for key in TRAINING_INPUTS if key in batch}).logits
    torch.testing.assert_close(logits, sharded_run["logits"], rtol=0, atol=LOGIT_TOLERANCE)
    print(f"largest logit difference {(logits - sharded_run['logits']).abs().max().item():.2e}")


def test_bad_sharding_settings_are_named(tiny_config, tmp_path):
    with pytest.raises(ValueError, match="distributed must be one of"):
        config_from_dict(tiny_config(tmp_path / "x", distributed="zero3"))
    with pytest.raises(ValueError, match="activation_checkpointing needs distributed: fsdp"):
        config_from_dict(tiny_config(tmp_path / "x", activation_checkpointing=True))
    with pytest.raises(ValueError, match="fsdp_param_dtype must be one of"):
        config_from_dict(tiny_config(tmp_path / "x", distributed="fsdp", fsdp_param_dtype="float16"))
    with pytest.raises(ValueError, match="stage 2"):
        config_from_dict(tiny_config(tmp_path / "x", stage=2, distributed="fsdp", **{"data.image_text_fraction": 0.0}))


def test_checkpointed_layers_recompute_with_the_forward_routing(train_data):
    """Static routing sends image tokens to expert 1: a recompute that lost the routing context
    (the model clears it when its forward returns) would route them to expert 0 and fail."""
    from chatvla2.model.config import MoEConfig
    from chatvla2.train import fsdp

    def gradients(checkpointing: bool) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model = ChatVLA2Model.from_preset("tiny", moe=MoEConfig(kind="static")).train()
        if checkpointing:
            layers = model.vlm.model.language_model.layers
            for index, layer in enumerate(layers):
                layers[index] = fsdp.checkpointed(layer)
        dataset = RobotTrainingSet(train_data["episodes"], ["front"], model.config.action_head.horizon)
        images, instruction = dataset.first_frame(0), dataset.text[0][0]
        batch = model.processor.collate([model.processor.encode(images, instruction, "the card 3")])
        torch.manual_seed(1)
        model(batch).loss.backward()
        return {name.replace("_checkpoint_wrapped_module.", ""): p.grad for name, p in model.named_parameters()
                if p.grad is not None}

    plain, recomputed = gradients(False), gradients(True)
    assert plain.keys() == recomputed.keys()
    for name, grad in plain.items():
        torch.testing.assert_close(recomputed[name], grad, rtol=0, atol=0, msg=name)


def test_the_paper_stage1_config_selects_sharded_training():
    config = load_train_config(REPO / "config" / "train" / "paper_stage1_fsdp.yaml")
    assert (config.model.preset, config.distributed, config.fsdp_param_dtype) == ("paper", "fsdp", "bfloat16")
    assert config.activation_checkpointing


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_the_gpu_check_script_dry_runs_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh with the tiny preset on the CPU: both phases run and fill the table."""
    env = dict(os.environ, GPU_CHECK_DRY_RUN="1", OUT=str(tmp_path), PYTHON=sys.executable)
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=280)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    table = (tmp_path / "gpu_check.md").read_text()
    for row in ("| prefill, one 320x240 camera |", "| reasoning, 8 tokens (prefill included) |",
                "| head chunk, 10 DDIM steps, eager |", "| naive |", "| async |", "| outcome | completed |"):
        assert row in table, row
    values = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in table.splitlines()
              if line.startswith("| prefill") or line.startswith("| head chunk") or line.startswith("| reasoning")}
    assert all(0 < value < 1e5 for value in values.values()), values
    loop = next(line for line in table.splitlines() if line.startswith("| capturable loop vs sample_actions"))
    assert float(loop.split("|")[2]) == 0.0  # the loop the GPU run captures is the real sampler's
    step = next(line for line in table.splitlines() if line.startswith("| seconds per step"))
    assert 0 < float(step.split("|")[2]) < 60
