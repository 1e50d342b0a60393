"""sensor_msgs/CompressedImage payloads (JPEG, PNG) to and from RGB arrays, with OpenCV.

image_transport's `compressed` plug-in names the format `"<encoding>; jpeg compressed bgr8"` (or
png), and colour images are compressed in BGR order; plain drivers write just "jpeg" or "png".
Either way OpenCV decodes a colour payload to BGR, so decoding always returns RGB. Never returns
a partial image: an undecodable payload raises ImageEncodingError."""
from __future__ import annotations

import cv2
import numpy as np

from chatvla2.imaging.encoding import ImageEncodingError

FORMATS = ("jpeg", "png")


def compressed_format(format_field: str) -> str:
    """'jpeg' or 'png' from a CompressedImage.format string; ImageEncodingError otherwise."""
    words = format_field.lower().replace(";", " ").split()
    for name in FORMATS:
        if name in words or (name == "jpeg" and "jpg" in words):
            return name
    raise ImageEncodingError(f"compressed image format '{format_field}' is neither jpeg nor png")


def decode_compressed(data: bytes, format_field: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a JPEG/PNG payload."""
    compressed_format(format_field)
    image = cv2.imdecode(np.frombuffer(bytes(data), dtype=np.uint8), cv2.IMREAD_COLOR)  # (H, W, 3) BGR
    if image is None:
        raise ImageEncodingError(f"cannot decode {len(data)} bytes as '{format_field}'")
    return np.ascontiguousarray(image[..., ::-1])


def encode_compressed(rgb: np.ndarray, format_name: str = "png", jpeg_quality: int = 90) -> tuple[bytes, str]:
    """(payload, format field) of an (H, W, 3) uint8 RGB image, as image_transport writes them."""
    if format_name not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got '{format_name}'")
    options = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if format_name == "jpeg" else []
    ok, payload = cv2.imencode(f".{'jpg' if format_name == 'jpeg' else 'png'}",
                               np.ascontiguousarray(rgb[..., ::-1]), options)
    if not ok:
        raise ImageEncodingError(f"OpenCV could not encode a {rgb.shape} image as {format_name}")
    return payload.tobytes(), f"rgb8; {format_name} compressed bgr8"
