"""Contact sheets: a grid of frames with captions, saved as PNG for people to look at."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def contact_sheet(rows: list[list[np.ndarray]], captions: list[str] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB grid: one row per list of (h, w, 3) frames, a caption strip above each row."""
    if not rows or not all(rows):
        raise ValueError("a contact sheet needs at least one frame in every row")
    h, w = rows[0][0].shape[:2]
    columns = max(len(r) for r in rows)
    strips = []
    for i, frames in enumerate(rows):
        blank = np.full((h, w, 3), 255, np.uint8)
        strip = np.concatenate(list(frames) + [blank] * (columns - len(frames)), axis=1)
        if captions:
            band = np.full((22, strip.shape[1], 3), 255, np.uint8)
            cv2.putText(band, captions[i][:160], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                        cv2.LINE_AA)
            strip = np.concatenate([band, strip])
        strips.append(strip)
    return np.concatenate(strips)


def save_png(image_rgb: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write PNG {path}")
    return path


def save_video(frames: list[np.ndarray], path: str | Path, fps: float = 10.0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path
