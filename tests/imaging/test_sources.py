"""Camera frame sources: every kind yields (H, W, 3) uint8 RGB of the configured size."""
import cv2
import numpy as np
import pytest

from chatvla2.imaging.sources import CameraSourceError, open_source


def test_synthetic_source_draws_the_equation_and_moves():
    source = open_source("synthetic:5 - 2 = ?", 160, 120)
    first, second = source.read(), source.read()
    assert first.shape == (120, 160, 3) and first.dtype == np.uint8
    assert not np.array_equal(first, second), "the marker should move between frames"
    board = first[10:60, 20:140]
    assert (board < 100).any(), "the equation's dark text should be on the white board"


def test_folder_source_loops_in_name_order_and_resizes(tmp_path):
    for index, color in enumerate([(0, 0, 255), (0, 255, 0)]):  # BGR on disk: red, then green
        cv2.imwrite(str(tmp_path / f"{index:02d}.png"), np.full((50, 80, 3), color, np.uint8))
    source = open_source(f"folder:{tmp_path}", 40, 30)
    frames = [source.read() for _ in range(3)]
    assert frames[0].shape == (30, 40, 3)
    assert frames[0][0, 0].tolist() == [255, 0, 0]  # RGB red
    assert frames[1][0, 0].tolist() == [0, 255, 0]
    np.testing.assert_array_equal(frames[2], frames[0])


def test_video_source_reads_and_loops(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for value in (0, 128, 255):
        writer.write(np.full((48, 64, 3), value, np.uint8))
    writer.release()
    source = open_source(f"video:{path}", 32, 24)
    means = [source.read().mean() for _ in range(4)]
    assert means[0] < 30 and means[2] > 220 and means[3] < 30
    source.close()


@pytest.mark.parametrize("uri,message", [
    ("folder:/nonexistent", "does not exist"),
    ("video:/nonexistent.mp4", "does not exist"),
    ("rtsp://camera", "unknown camera source"),
])
def test_bad_sources_give_clear_errors(uri, message):
    with pytest.raises(CameraSourceError, match=message):
        open_source(uri, 32, 24)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(CameraSourceError, match="holds no images"):
        open_source(f"folder:{tmp_path}", 32, 24)
