"""The replay report: metrics, JSON, and an HTML page with matplotlib plots.

Metrics are flat `name -> number` so `chatvla2 replay --threshold NAME=LIMIT` can gate on any of
them. Errors are absolute differences between predicted and recorded targets (rad for the arm
joints, m for the gripper opening), over the horizon steps where something was recorded.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from chatvla2.data.bag_reader import StackRecording
from chatvla2.data.replay import ReplayResult

# Controller reasons that mean "nothing to play, hold" rather than "the filter changed a command".
HOLD_REASONS = {"no joint state yet", "chunk timeout", "chunk used up", "joint state stale", "stop latched"}


def errors(result: ReplayResult) -> np.ndarray:
    """(N, H, A) |predicted - recorded|, NaN where nothing was recorded."""
    rows = [np.abs(s.predicted - s.recorded) for s in result.steps if s.recorded is not None]
    if not rows:
        return np.full((0, 1, len(result.joint_names)), np.nan)
    horizon = min(r.shape[0] for r in rows)
    return np.stack([r[:horizon] for r in rows])


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def reasoning_segments(result: ReplayResult) -> list[dict]:
    """Consecutive steps with the same predicted reasoning form one segment."""
    segments: list[dict] = []
    for step in result.steps:
        if segments and segments[-1]["reasoning"] == step.reasoning:
            segments[-1]["end_s"], segments[-1]["steps"] = step.stamp_s, segments[-1]["steps"] + 1
            continue
        segments.append({"start_s": step.stamp_s, "end_s": step.stamp_s, "steps": 1,
                         "instruction": step.instruction, "reasoning": step.reasoning,
                         "recorded_reasoning": step.recorded_reasoning})
    return segments


def metrics(result: ReplayResult) -> dict[str, float]:
    err = errors(result)  # (N, H, A)
    latency = np.array([s.latency_ms for s in result.steps]) if result.steps else np.array([np.nan])
    arm = err[:, :, :-1]
    rejections = sum(n for reason, n in result.interventions.items() if reason.startswith("rejected chunk"))
    interventions = sum(n for reason, n in result.interventions.items()
                        if reason not in HOLD_REASONS and not reason.startswith("rejected chunk"))
    holds = sum(n for reason, n in result.interventions.items() if reason in HOLD_REASONS)
    matching = [s.reasoning == s.recorded_reasoning for s in result.steps if s.recorded_reasoning is not None]
    return {
        "steps": float(len(result.steps)),
        "steps_with_recorded_actions": float(len(err)),
        "mae_arm_rad": _nanmean(arm),
        "mae_first_step_arm_rad": _nanmean(arm[:, :1]),
        "max_error_arm_rad": float(np.nanmax(arm)) if np.isfinite(arm).any() else float("nan"),
        "mae_gripper_m": _nanmean(err[:, :, -1]),
        "latency_mean_ms": float(np.nanmean(latency)),
        "latency_p95_ms": float(np.nanpercentile(latency, 95)),
        "latency_max_ms": float(np.nanmax(latency)),
        "warm_up_s": result.warm_up_s,
        "intervention_rate": interventions / max(result.control_ticks, 1),
        "hold_rate": holds / max(result.control_ticks, 1),
        "chunk_rejection_rate": rejections / max(len(result.steps), 1),
        "reasoning_match_rate": float(np.mean(matching)) if matching else float("nan"),
    }


def check_thresholds(values: dict[str, float], limits: dict[str, float]) -> list[str]:
    """Messages for every metric above its limit (NaN counts as exceeded: nothing to judge)."""
    unknown = sorted(set(limits) - set(values))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} in --threshold; known: {sorted(values)}")
    return [f"{name} = {values[name]:.4g} exceeds {limit:.4g}" for name, limit in limits.items()
            if not values[name] <= limit]


def _plots(result: ReplayResult, out: Path) -> list[tuple[str, str]]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pngs = []
    names = result.joint_names
    times = np.array([s.stamp_s for s in result.steps])
    t0 = times[0] if len(times) else 0.0
    predicted = np.array([s.predicted[0] for s in result.steps]) if result.steps else np.zeros((0, len(names)))
    recorded = np.array([s.recorded[0] if s.recorded is not None else np.full(len(names), np.nan)
                         for s in result.steps]) if result.steps else predicted
    fig, axes = plt.subplots(2, (len(names) + 1) // 2, figsize=(16, 6), sharex=True)
    for j, ax in enumerate(axes.flat[:len(names)]):
        ax.plot(times - t0, recorded[:, j], label="recorded", color="tab:blue")
        ax.plot(times - t0, predicted[:, j], label="predicted", color="tab:orange", linestyle="--")
        ax.set_title(names[j], fontsize=9)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("First-step target per joint (rad; gripper m) over bag time (s)")
    fig.tight_layout()
    pngs.append(("targets.png", "Predicted vs recorded first-step targets")); fig.savefig(out / pngs[-1][0], dpi=80)
    plt.close(fig)

    err = errors(result)
    fig, ax = plt.subplots(figsize=(9, 4))
    if len(err) and np.isfinite(err).any():
        image = ax.imshow(np.nanmean(err, axis=0).T, aspect="auto", cmap="viridis")
        fig.colorbar(image, ax=ax, label="mean |error|")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("horizon step k (target for stamp + (k+1) dt)")
    ax.set_title("Mean absolute error per joint and horizon step")
    fig.tight_layout()
    pngs.append(("error_heatmap.png", "Error per joint and horizon step")); fig.savefig(out / pngs[-1][0], dpi=80)
    plt.close(fig)

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.5))
    left.plot(times - t0, [s.latency_ms for s in result.steps], marker=".")
    left.set_xlabel("bag time (s)"); left.set_ylabel("inference latency (ms)"); left.set_title("Latency")
    reasons = sorted(result.interventions.items(), key=lambda item: -item[1])
    right.barh([r for r, _ in reasons], [n for _, n in reasons],
               color=["tab:gray" if r in HOLD_REASONS else "tab:red" for r, _ in reasons])
    right.set_xlabel(f"control ticks (of {result.control_ticks})")
    right.set_title("Controller: safety interventions (red) and holds (gray)")
    fig.tight_layout()
    pngs.append(("latency_safety.png", "Latency and safety interventions")); fig.savefig(out / pngs[-1][0], dpi=80)
    plt.close(fig)
    return pngs


def write_report(result: ReplayResult, recording: StackRecording, out: Path, model: str,
                 limits: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    out.mkdir(parents=True, exist_ok=True)
    values = metrics(result)
    failures = check_thresholds(values, limits)
    err = errors(result)
    segments = reasoning_segments(result)
    report = {
        "bag": str(recording.path), "model": model, "joint_names": list(result.joint_names),
        "metrics": values, "thresholds": limits, "failures": failures,
        "mae_per_joint": dict(zip(result.joint_names, np.nanmean(err, axis=(0, 1)).tolist())) if len(err) else {},
        "mae_per_horizon_step": np.nanmean(err, axis=(0, 2)).tolist() if len(err) else [],
        "interventions": dict(result.interventions), "control_ticks": result.control_ticks,
        "skipped_frames": dict(result.skipped), "reasoning_segments": segments,
        "bag_problems": [str(p) for p in recording.problems],
        "steps": [{"stamp_s": s.stamp_s, "latency_ms": s.latency_ms, "recorded_source": s.recorded_source,
                   "mae": _nanmean(np.abs(s.predicted - s.recorded)) if s.recorded is not None else None}
                  for s in result.steps],
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, allow_nan=True))
    pngs = _plots(result, out)
    (out / "index.html").write_text(_html(report, pngs))
    return values, failures


def _html(report: dict, pngs: list[tuple[str, str]]) -> str:
    e = html.escape
    verdict = ("<p class='fail'>FAILED: " + "; ".join(map(e, report["failures"])) + "</p>") if report["failures"] \
        else "<p class='pass'>All thresholds met.</p>" if report["thresholds"] else ""
    rows = "".join(f"<tr><td>{e(k)}</td><td>{v:.4g}</td><td>{report['thresholds'].get(k, '')}</td></tr>"
                   for k, v in report["metrics"].items())
    segments = "".join(
        f"<tr><td>{s['start_s'] - report['reasoning_segments'][0]['start_s']:.2f}</td><td>{s['steps']}</td>"
        f"<td>{e(s['instruction'])}</td><td>{e(s['reasoning'])}</td><td>{e(s['recorded_reasoning'] or '')}</td></tr>"
        for s in report["reasoning_segments"])
    problems = "".join(f"<li>{e(p)}</li>" for p in report["bag_problems"][:200]) or "<li>none</li>"
    images = "".join(f"<h2>{e(title)}</h2><img src='{name}' alt='{e(title)}'>" for name, title in pngs)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>chatvla2 replay report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1300px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}}img{{max-width:100%}}
.fail{{color:#b00;font-weight:bold}}.pass{{color:#070;font-weight:bold}}</style></head><body>
<h1>Replay report</h1><p>bag <code>{e(report['bag'])}</code>, model <code>{e(report['model'])}</code></p>
{verdict}<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>limit</th></tr>{rows}</table>
{images}<h2>Reasoning per segment</h2><table><tr><th>start (s)</th><th>steps</th><th>instruction</th>
<th>predicted reasoning</th><th>recorded reasoning</th></tr>{segments}</table>
<h2>Problems found in the bag</h2><ul>{problems}</ul></body></html>"""
