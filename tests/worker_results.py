"""Results of the multi-process training tests' workers (DDP and FSDP2 over gloo)."""
from __future__ import annotations

import json


def worker_results(processes) -> list[dict]:
    """The `RESULT {json}` line each worker process printed, in process order; a worker that
    failed fails the test with the end of its output."""
    results = []
    for process in processes:
        output, _ = process.communicate(timeout=280)
        assert process.returncode == 0, output[-4000:]
        line = next(l for l in output.splitlines() if l.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT "):]))
    return results
