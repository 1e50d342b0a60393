"""Training metrics: one JSON line and one CSV row per logged step, TensorBoard when installed,
and the training curves as a PNG (`plot_curves`).

Only rank 0 writes. Files are appended and flushed per row, so a resumed run continues the same
files and a crash loses at most the current row.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

CURVE_KEYS = ("loss", "lm_loss", "diffusion_loss", "router_loss", "lr", "samples_per_s")


class MetricsLogger:
    def __init__(self, out_dir: str | Path, enabled: bool = True) -> None:
        self.enabled = enabled
        self.out_dir = Path(out_dir)
        self.jsonl_path = self.out_dir / "metrics.jsonl"
        self.csv_path = self.out_dir / "metrics.csv"
        self.tensorboard = None
        if not enabled:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(self.out_dir / "tensorboard"))
        except ImportError:
            self.tensorboard = None

    def log(self, step: int, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        row = {"step": int(step), **{k: float(v) for k, v in values.items()}}
        with self.jsonl_path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        header = self._csv_header()
        if header is None or any(key not in header for key in row):
            # New columns (e.g. a resumed run logging more): rewrite the CSV from the JSONL.
            self._rewrite_csv()
        else:
            with self.csv_path.open("a", newline="") as handle:
                csv.DictWriter(handle, fieldnames=header).writerow(row)
        if self.tensorboard is not None:
            for key, value in row.items():
                if key != "step":
                    self.tensorboard.add_scalar(key, value, step)

    def _csv_header(self) -> list[str] | None:
        if not self.csv_path.is_file():
            return None
        with self.csv_path.open() as handle:
            return next(csv.reader(handle), None)

    def _rewrite_csv(self) -> None:
        rows = read_metrics(self.jsonl_path)
        keys = list(dict.fromkeys(key for row in rows for key in row))
        with self.csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """Rows of a metrics.jsonl; a truncated last line (a crash mid-write) is skipped."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def plot_curves(metrics_paths: dict[str, str | Path], png_path: str | Path, title: str = "",
                keys: tuple[str, ...] = CURVE_KEYS) -> Path:
    """One panel per metric in `keys`, one line per run (e.g. {'stage 1': ..., 'stage 2': ...})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {name: read_metrics(path) for name, path in metrics_paths.items() if Path(path).is_file()}
    keys = [k for k in keys if any(k in row for rows in runs.values() for row in rows)]
    if not keys:
        raise ValueError(f"no metrics to plot in {list(metrics_paths.values())}")
    cols = min(3, len(keys))
    rows_n = math.ceil(len(keys) / cols)
    figure, axes = plt.subplots(rows_n, cols, figsize=(4.5 * cols, 3.2 * rows_n), squeeze=False)
    for axis, key in zip(axes.flat, keys):
        for name, rows in runs.items():
            points = [(row["step"], row[key]) for row in rows if key in row]
            if points:
                steps, values = zip(*points)
                axis.plot(steps, values, label=name, linewidth=1.2)
        axis.set_title(key)
        axis.set_xlabel("step")
        if key.endswith("loss") and all(v > 0 for rows in runs.values() for row in rows for v in [row.get(key, 1)]):
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    for axis in list(axes.flat)[len(keys):]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png_path, dpi=110)
    plt.close(figure)
    return png_path
