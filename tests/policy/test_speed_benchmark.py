"""`chatvla2 bench` end to end on a few frames: every path runs, the table and RESULTS entry name
the machine, the date and each path, and the few-step sampler beats the DDPM baseline."""
import time

import pytest
import torch

from chatvla2.cli import main


def test_bench_runs_every_path_and_writes_the_table(tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    code = main(["bench", "--preset", "tiny", "--frames", "6", "--naive-frames", "2", "--reasoning-tokens", "4",
                 "--refresh-every-frames", "3", "--repeats", "1", "--results", str(results), "--notes", "test run"])
    printed = capsys.readouterr().out
    assert code == 0
    rows = {line.split("|")[1].strip(): line.split("|")[2:] for line in printed.splitlines()
            if line.startswith("| ") and not line.startswith("| path")}
    assert list(rows) == ["naive", "naive+ddim", "sync", "async", "async, per-step head"]
    chunks_per_s = {name: float(cells[0]) for name, cells in rows.items()}
    assert all(value > 0 for value in chunks_per_s.values())
    assert chunks_per_s["naive+ddim"] > chunks_per_s["naive"]  # 10 DDIM steps vs 100 DDPM steps
    warm_up_s = {name: float(cells[-2]) for name, cells in rows.items()}  # the column before the closing '|'
    assert all(value > 0 for value in warm_up_s.values()), "every path is warmed up, and the time reported"
    written = results.read_text()
    assert "inference_speed, preset tiny, cpu" in written and time.strftime("%Y-%m-%d") in written
    assert "| async, per-step head |" in written and written.rstrip().endswith("test run")


def test_bench_refuses_zero_repeats(capsys):
    assert main(["bench", "--repeats", "0", "--results", ""]) == 2
    assert "--repeats must be >= 1" in capsys.readouterr().err


def test_bench_refuses_a_locator_query_without_a_locator(capsys):
    assert main(["bench", "--locator-query", "digit-and-place", "--results", ""]) == 2
    assert "add --target-locator" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--token-attention"], ["--target-locator"],
                                   ["--target-locator", "--locator-query", "digit-and-place"]])
def test_bench_runs_every_path_with_a_head_that_reads_tokens(capsys, flags):
    """The naive baseline builds the head's token context from `generate`'s hidden states too."""
    from chatvla2.policy.speed_benchmark import build_random_model

    query = flags[-1] if "--locator-query" in flags else "clause"
    model = build_random_model("tiny", "cpu", torch.float32, token_attention="--token-attention" in flags,
                               target_locator="--target-locator" in flags, locator_query=query)
    assert (model.head.context_encoder is not None) == ("--token-attention" in flags)
    assert (model.head.locator is not None) == ("--target-locator" in flags)
    assert model.config.action_head.locator_query == query
    code = main(["bench", "--preset", "tiny", *flags, "--frames", "4", "--naive-frames", "1",
                 "--reasoning-tokens", "3", "--repeats", "1", "--results", ""])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "path" not in line]
    assert code == 0 and len(rows) == 5 and all(float(row.split("|")[2]) > 0 for row in rows)
