"""Text rendered into images for MuJoCo textures: the whiteboard's equation and the card digits.

Glyphs are drawn big and thick so they stay legible at 224x224, where a tiny model must learn to
read them: OpenCV's Hershey faces, or TrueType faces through Pillow (the DejaVu fonts matplotlib
ships). Which face a scene uses is its appearance's `font` (sim/appearance.py).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

HERSHEY = {"hershey_simplex": cv2.FONT_HERSHEY_SIMPLEX, "hershey_duplex": cv2.FONT_HERSHEY_DUPLEX,
           "hershey_script": cv2.FONT_HERSHEY_SCRIPT_COMPLEX}
TRUETYPE = {"dejavu_serif": "DejaVuSerif-Bold.ttf", "dejavu_sans_bold_oblique": "DejaVuSans-BoldOblique.ttf"}
FONTS = tuple(HERSHEY) + tuple(TRUETYPE)


def text_image(text: str, width_px: int, height_px: int, ink_rgb=(20, 20, 20),
               paper_rgb=(245, 245, 240), fill: float = 0.8, font: str = "hershey_simplex") -> np.ndarray:
    """(height_px, width_px, 3) uint8 RGB with `text` centred, scaled to `fill` of the image."""
    if font not in FONTS:
        raise ValueError(f"unknown font '{font}': use one of {', '.join(FONTS)}")
    image = np.empty((height_px, width_px, 3), dtype=np.uint8)
    image[:] = paper_rgb
    if not text.strip():
        return image
    if font in TRUETYPE:
        return truetype_text(image, text, TRUETYPE[font], ink_rgb, fill)
    face = HERSHEY[font]
    thickness = max(2, height_px // 14)
    (w, h), _ = cv2.getTextSize(text, face, 1.0, thickness)
    scale = fill * min(width_px / w, height_px / h)
    thickness = max(2, int(round(thickness * scale / 1.6)))
    (w, h), baseline = cv2.getTextSize(text, face, scale, thickness)
    origin = ((width_px - w) // 2, (height_px + h) // 2)
    cv2.putText(image, text, origin, face, scale, ink_rgb, thickness, cv2.LINE_AA)
    return image


@lru_cache(maxsize=None)
def _truetype_path(file_name: str) -> str:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / file_name
    if not path.is_file():
        raise FileNotFoundError(f"font {file_name} is not in matplotlib's fonts ({path.parent})")
    return str(path)


def truetype_text(image: np.ndarray, text: str, file_name: str, ink_rgb, fill: float) -> np.ndarray:
    """`text` centred on `image` in a TrueType face, its box `fill` of the image."""
    from PIL import Image, ImageDraw, ImageFont

    height_px, width_px = image.shape[:2]
    probe = ImageFont.truetype(_truetype_path(file_name), 100)
    left, top, right, bottom = probe.getbbox(text)
    size = max(8, int(100 * fill * min(width_px / (right - left), height_px / (bottom - top))))
    face = ImageFont.truetype(_truetype_path(file_name), size)
    left, top, right, bottom = face.getbbox(text)
    canvas = Image.fromarray(image)
    origin = ((width_px - (right - left)) // 2 - left, (height_px - (bottom - top)) // 2 - top)
    ImageDraw.Draw(canvas).text(origin, text, font=face, fill=tuple(int(c) for c in ink_rgb))
    return np.asarray(canvas).copy()


def png_bytes(image_rgb: np.ndarray) -> bytes:
    """PNG for a texture on a box face seen from -x: MuJoCo maps that face mirrored."""
    upright_on_face = np.ascontiguousarray(image_rgb[:, ::-1])
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(upright_on_face, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode a texture as PNG")
    return encoded.tobytes()
