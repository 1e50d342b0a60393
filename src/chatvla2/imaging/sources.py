"""Camera frame sources: a synthetic scene, an image folder, a video file or a V4L2 device.

Every source yields (H, W, 3) uint8 RGB frames of the configured size. A source is chosen by a
URI so that integrators can swap cameras by configuration:
    synthetic:            a rendered test scene (a whiteboard with an equation)
    folder:/path/to/dir   the images in the folder, sorted by name, looping
    video:/path/to/file   a video file, looping
    v4l2:/dev/video0      a live camera
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm"}


class CameraSourceError(RuntimeError):
    """A camera source cannot be opened or read."""


class FrameSource(Protocol):
    def read(self) -> np.ndarray:
        """Return the next (H, W, 3) uint8 RGB frame."""
        ...

    def close(self) -> None: ...


def _resize(frame_rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame_rgb.shape[:2] == (height, width):
        return frame_rgb
    return cv2.resize(frame_rgb, (width, height), interpolation=cv2.INTER_AREA)


class SyntheticSource:
    """A whiteboard showing an equation above a table, the frame counter drifting a marker."""

    def __init__(self, width: int, height: int, equation: str = "3 + 4 = ?") -> None:
        self.width, self.height, self.equation = width, height, equation
        self.frame_index = 0

    def read(self) -> np.ndarray:
        w, h = self.width, self.height
        frame = np.full((h, w, 3), (150, 120, 90), np.uint8)  # table, RGB
        cv2.rectangle(frame, (w // 8, h // 12), (7 * w // 8, h // 2), (245, 245, 245), -1)
        cv2.putText(frame, self.equation, (w // 6, h // 3), cv2.FONT_HERSHEY_SIMPLEX,
                    h / 300, (20, 20, 20), max(1, h // 120), cv2.LINE_AA)
        x = int((self.frame_index * 3) % max(1, w - h // 8))
        cv2.rectangle(frame, (x, 3 * h // 4), (x + h // 10, 3 * h // 4 + h // 10), (200, 40, 40), -1)
        self.frame_index += 1
        return frame

    def close(self) -> None:
        pass


class ImageFolderSource:
    def __init__(self, folder: str, width: int, height: int) -> None:
        path = Path(folder)
        if not path.is_dir():
            raise CameraSourceError(f"image folder '{folder}' does not exist")
        self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise CameraSourceError(f"image folder '{folder}' holds no images ({sorted(IMAGE_SUFFIXES)})")
        self.width, self.height = width, height
        self.index = 0

    def read(self) -> np.ndarray:
        path = self.files[self.index % len(self.files)]
        self.index += 1
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise CameraSourceError(f"cannot decode image '{path}'")
        return _resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.width, self.height)

    def close(self) -> None:
        pass


class VideoCaptureSource:
    """A video file (looping) or a V4L2 device, through OpenCV's VideoCapture."""

    def __init__(self, target: str | int, width: int, height: int, loop: bool) -> None:
        self.target, self.loop = target, loop
        self.width, self.height = width, height
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            raise CameraSourceError(f"cannot open video source '{target}'")

    def read(self) -> np.ndarray:
        ok, bgr = self.capture.read()
        if not ok and self.loop:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self.capture.read()
        if not ok:
            raise CameraSourceError(f"video source '{self.target}' returned no frame")
        return _resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.width, self.height)

    def close(self) -> None:
        self.capture.release()


def open_source(uri: str, width: int, height: int) -> FrameSource:
    """Open the frame source a URI names (see the module docstring)."""
    kind, _, target = uri.partition(":")
    if kind == "synthetic":
        return SyntheticSource(width, height, equation=target or "3 + 4 = ?")
    if kind == "folder":
        return ImageFolderSource(target, width, height)
    if kind == "video":
        if not Path(target).is_file():
            raise CameraSourceError(f"video file '{target}' does not exist")
        return VideoCaptureSource(target, width, height, loop=True)
    if kind == "v4l2":
        device = int(target) if target.isdigit() else target
        return VideoCaptureSource(device, width, height, loop=False)
    raise CameraSourceError(
        f"unknown camera source '{uri}'; use synthetic:, folder:DIR, video:FILE or v4l2:DEVICE"
    )
