"""Camera intrinsics from the camera_calibration YAML format (what `cameracalibrator` writes and
camera_info_manager reads): image_width, image_height, camera_name, camera_matrix (3x3),
distortion_model, distortion_coefficients, rectification_matrix (3x3), projection_matrix (3x4).
Plain data: the camera node copies it into sensor_msgs/CameraInfo."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

MATRICES = {"camera_matrix": (3, 3), "rectification_matrix": (3, 3), "projection_matrix": (3, 4)}


@dataclass(frozen=True)
class CameraCalibration:
    width_px: int
    height_px: int
    k: np.ndarray                 # (3, 3) intrinsic matrix
    distortion_model: str         # plumb_bob | rational_polynomial | equidistant
    d: np.ndarray                 # (N,) distortion coefficients
    r: np.ndarray                 # (3, 3) rectification
    p: np.ndarray                 # (3, 4) projection


def _matrix(raw: dict, key: str, path: Path) -> np.ndarray:
    try:
        entry = raw[key]
        values = np.asarray(entry["data"], dtype=float)
        shape = (int(entry["rows"]), int(entry["cols"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"calibration '{path}': {key} needs rows, cols and data ({error})") from None
    if key in MATRICES and shape != MATRICES[key]:
        raise ValueError(f"calibration '{path}': {key} is {shape[0]}x{shape[1]}, expected "
                         f"{MATRICES[key][0]}x{MATRICES[key][1]}")
    if values.size != shape[0] * shape[1] or not np.all(np.isfinite(values)):
        raise ValueError(f"calibration '{path}': {key} data must be {shape[0] * shape[1]} finite numbers")
    return values.reshape(shape)


def load_calibration(path: str | Path) -> CameraCalibration:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera calibration '{path}' does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    for key in ("image_width", "image_height", "distortion_model"):
        if key not in raw:
            raise ValueError(f"calibration '{path}' lacks {key} (camera_calibration YAML format)")
    k = _matrix(raw, "camera_matrix", path)
    if not (k[0, 0] > 0 and k[1, 1] > 0):
        raise ValueError(f"calibration '{path}': focal lengths fx, fy must be positive")
    return CameraCalibration(int(raw["image_width"]), int(raw["image_height"]), k, str(raw["distortion_model"]),
                             _matrix(raw, "distortion_coefficients", path).ravel(),
                             _matrix(raw, "rectification_matrix", path), _matrix(raw, "projection_matrix", path))
