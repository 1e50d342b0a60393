"""The multi-process path: 2 CPU processes, gloo backend, DistributedDataParallel, as torchrun runs it."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import yaml
from worker_results import worker_results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


WORKER = """
import hashlib, json, sys
import torch
from chatvla2.train.config import config_from_dict
from chatvla2.train.trainer import Trainer
trainer = Trainer(config_from_dict(json.loads(sys.argv[1])), show_progress=False)
kinds = [trainer.draw(step)[0] for step in range(2)]
positions = [trainer.draw(step)[1].tolist() for step in range(2)]
trainer.run()
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in trainer.model.parameters())).hexdigest()
print("RESULT " + json.dumps({"rank": trainer.context.rank, "world": trainer.context.world_size,
                              "kinds": kinds, "positions": positions, "digest": digest}), flush=True)
trainer.close()
"""


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_two_gloo_processes_train_in_lockstep(tiny_config, tmp_path):
    raw = tiny_config(tmp_path / "ddp", steps=2, checkpoint_every=2)
    port = free_port()
    processes = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        processes.append(subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(raw)], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    results = worker_results(processes)
    by_rank = {r["rank"]: r for r in results}
    assert set(by_rank) == {0, 1} and all(r["world"] == 2 for r in results)
    # Both ranks agree on the batch kind, draw different samples, and end with identical weights:
    # gradients were all-reduced.
    assert by_rank[0]["kinds"] == by_rank[1]["kinds"]
    assert by_rank[0]["positions"] != by_rank[1]["positions"]
    assert by_rank[0]["digest"] == by_rank[1]["digest"]
    # Only rank 0 writes logs and checkpoints.
    rows = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [1, 2]
    assert (tmp_path / "ddp" / "final" / "model.safetensors").is_file()
