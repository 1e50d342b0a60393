"""Text rendered into images for MuJoCo textures: the whiteboard's equation and the card digits.

Glyphs are drawn big and thick (OpenCV Hershey fonts) so they stay legible at 224x224, where a
tiny model must learn to read them.
"""
from __future__ import annotations

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def text_image(text: str, width_px: int, height_px: int, ink_rgb=(20, 20, 20),
               paper_rgb=(245, 245, 240), fill: float = 0.8) -> np.ndarray:
    """(height_px, width_px, 3) uint8 RGB with `text` centred, scaled to `fill` of the image."""
    image = np.empty((height_px, width_px, 3), dtype=np.uint8)
    image[:] = paper_rgb
    if not text.strip():
        return image
    thickness = max(2, height_px // 14)
    (w, h), _ = cv2.getTextSize(text, FONT, 1.0, thickness)
    scale = fill * min(width_px / w, height_px / h)
    thickness = max(2, int(round(thickness * scale / 1.6)))
    (w, h), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    origin = ((width_px - w) // 2, (height_px + h) // 2)
    cv2.putText(image, text, origin, FONT, scale, ink_rgb, thickness, cv2.LINE_AA)
    return image


def png_bytes(image_rgb: np.ndarray) -> bytes:
    """PNG for a texture on a box face seen from -x: MuJoCo maps that face mirrored."""
    upright_on_face = np.ascontiguousarray(image_rgb[:, ::-1])
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(upright_on_face, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode a texture as PNG")
    return encoded.tobytes()
