"""camera_calibration YAML files load into K, D, R, P; malformed ones are refused by name."""
from pathlib import Path

import numpy as np
import pytest
import yaml

from chatvla2.imaging.calibration import load_calibration

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "cameras" / "example_320x240.yaml"


def test_the_shipped_example_loads():
    c = load_calibration(EXAMPLE)
    assert (c.width_px, c.height_px) == (320, 240) and c.distortion_model == "plumb_bob"
    assert c.k[0, 2] == 160.0 and c.p.shape == (3, 4) and c.d.shape == (5,)


@pytest.mark.parametrize("change, match", [
    (lambda raw: raw.pop("distortion_model"), "lacks distortion_model"),
    (lambda raw: raw["camera_matrix"].update(rows=2), "2x3, expected 3x3"),
    (lambda raw: raw["projection_matrix"]["data"].pop(), "12 finite numbers"),
    (lambda raw: raw["camera_matrix"]["data"].__setitem__(0, 0.0), "focal lengths"),
])
def test_malformed_calibrations_are_refused(tmp_path, change, match):
    raw = yaml.safe_load(EXAMPLE.read_text())
    change(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=match):
        load_calibration(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no.yaml"):
        load_calibration(tmp_path / "no.yaml")
