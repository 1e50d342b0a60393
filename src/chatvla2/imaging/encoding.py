"""Conversion between sensor_msgs/Image fields and NumPy arrays, following the message's rules.

Works on plain fields (height, width, encoding, is_bigendian, step, data) so it needs no ROS.
Handles row padding (step > width * pixel size) and byte order. Never returns an array that
does not match the message exactly: a size mismatch or unknown encoding raises ImageEncodingError.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np


class ImageEncodingError(ValueError):
    """A sensor_msgs/Image cannot be converted: unknown encoding, wrong size or wrong array."""


@dataclass(frozen=True)
class EncodingLayout:
    dtype: np.dtype  # element type, native byte order
    channels: int


# The encodings the stack speaks (names as in sensor_msgs/image_encodings.hpp).
ENCODINGS: dict[str, EncodingLayout] = {
    "rgb8": EncodingLayout(np.dtype(np.uint8), 3),
    "bgr8": EncodingLayout(np.dtype(np.uint8), 3),
    "mono8": EncodingLayout(np.dtype(np.uint8), 1),
    "mono16": EncodingLayout(np.dtype(np.uint16), 1),
    "32FC1": EncodingLayout(np.dtype(np.float32), 1),
}


@dataclass(frozen=True)
class ImageFields:
    """The data-carrying fields of sensor_msgs/Image."""

    height: int
    width: int
    encoding: str
    is_bigendian: bool
    step: int
    data: bytes


def _layout(encoding: str) -> EncodingLayout:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageEncodingError(
            f"unsupported image encoding '{encoding}'; supported: {', '.join(ENCODINGS)}"
        ) from None


def fields_to_array(fields: ImageFields) -> np.ndarray:
    """Return the image as (H, W) or (H, W, C) with native byte order (a copy, never a view)."""
    layout = _layout(fields.encoding)
    pixel_bytes = layout.dtype.itemsize * layout.channels
    row_bytes = fields.width * pixel_bytes
    if fields.height <= 0 or fields.width <= 0:
        raise ImageEncodingError(f"empty or negative image size {fields.height}x{fields.width}: no pixels to use")
    if fields.step < row_bytes:
        raise ImageEncodingError(
            f"step {fields.step} is smaller than width {fields.width} x {pixel_bytes} bytes per pixel"
        )
    expected = fields.step * fields.height
    if len(fields.data) != expected:
        raise ImageEncodingError(
            f"{fields.encoding} image {fields.height}x{fields.width} with step {fields.step} needs "
            f"{expected} bytes of data, got {len(fields.data)}"
        )
    rows = np.frombuffer(fields.data, dtype=np.uint8).reshape(fields.height, fields.step)
    pixels = rows[:, :row_bytes]  # drop row padding
    dtype = layout.dtype.newbyteorder(">" if fields.is_bigendian else "<")
    array = np.ascontiguousarray(pixels).view(dtype).astype(layout.dtype, copy=True)
    shape = (fields.height, fields.width) if layout.channels == 1 else (
        fields.height, fields.width, layout.channels)
    return array.reshape(shape)


def array_to_fields(array: np.ndarray, encoding: str) -> ImageFields:
    """Pack an array into Image fields, in this machine's byte order, without row padding."""
    layout = _layout(encoding)
    expected_ndim = 2 if layout.channels == 1 else 3
    if array.ndim == 3 and layout.channels == 1 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != expected_ndim or (expected_ndim == 3 and array.shape[2] != layout.channels):
        raise ImageEncodingError(
            f"encoding '{encoding}' needs an array of {layout.channels} channel(s), got shape {array.shape}"
        )
    if array.dtype != layout.dtype:
        raise ImageEncodingError(
            f"encoding '{encoding}' needs dtype {layout.dtype}, got {array.dtype}"
        )
    height, width = array.shape[:2]
    data = np.ascontiguousarray(array).tobytes()
    return ImageFields(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=sys.byteorder == "big",
        step=width * layout.dtype.itemsize * layout.channels,
        data=data,
    )


def to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a decoded image to (H, W, 3) uint8 RGB, the format the policy consumes."""
    if encoding == "rgb8":
        return array
    if encoding == "bgr8":
        return np.ascontiguousarray(array[:, :, ::-1])
    if encoding == "mono8":
        return np.repeat(array[:, :, None], 3, axis=2)
    if encoding == "mono16":
        return np.repeat((array >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
    if encoding == "32FC1":
        finite = np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)
        peak = float(finite.max()) if finite.size else 0.0
        scaled = finite / peak if peak > 0 else finite
        gray = (np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    raise ImageEncodingError(f"cannot convert encoding '{encoding}' to rgb8")
