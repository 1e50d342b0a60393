"""Region-of-interest views: a fixed crop of one camera, resized, fed to the model as an extra image.

A small object far from the camera covers a few pixels once the image processor scales the frame
down to the model's pixel budget (the tiny preset: 112x112, where a card digit is ~4 pixels high).
A crop view cuts the region where such objects lie out of the full-resolution frame and feeds it
as one more image, so the model sees them large without paying for the whole frame at full
resolution. The views are part of the model's config (`ChatVLA2Config.image_crops`, saved in
config.json), so training, evaluation and the ROS node all build the same images:

    image_crops:
      front_cards: {camera: front, box: [0.585, 0.125, 0.772, 0.875], size: [224, 56]}

`box` is (top, left, bottom, right) as fractions of the source image, so the view does not depend
on the camera's resolution; `size` is (width, height) in pixels after resizing (multiples of 28
keep the whole crop inside the processor's patch grid). A view's name orders it among the cameras
(images are ordered by name). A view whose camera is not in an observation is left out (text-only
samples have no image at all); a view named like a camera is an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class CropView:
    name: str
    camera: str
    box: tuple[float, float, float, float]  # top, left, bottom, right as fractions of the source
    size: tuple[int, int]  # width, height in pixels after resizing

    def __post_init__(self) -> None:
        top, left, bottom, right = self.box
        if not (0.0 <= top < bottom <= 1.0 and 0.0 <= left < right <= 1.0):
            raise ValueError(f"crop view '{self.name}': box {list(self.box)} must be (top, left, bottom, right) "
                             f"fractions with 0 <= top < bottom <= 1 and 0 <= left < right <= 1")
        if min(self.size) < 28:
            raise ValueError(f"crop view '{self.name}': size {list(self.size)} must be at least 28 x 28 pixels")

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The view of one (H, W, 3) uint8 frame."""
        from PIL import Image

        height, width = image.shape[:2]
        top, left, bottom, right = self.box
        rows = slice(int(round(top * height)), max(int(round(bottom * height)), int(round(top * height)) + 1))
        cols = slice(int(round(left * width)), max(int(round(right * width)), int(round(left * width)) + 1))
        crop = Image.fromarray(np.ascontiguousarray(image[rows, cols]))
        return np.asarray(crop.resize(tuple(self.size), Image.BILINEAR))


def parse_crop_views(spec: Mapping[str, Any] | None) -> tuple[CropView, ...]:
    """`ChatVLA2Config.image_crops` -> views; a clear error naming the view when one is malformed."""
    views = []
    for name, raw in (spec or {}).items():
        if not isinstance(raw, Mapping) or set(raw) != {"camera", "box", "size"}:
            raise ValueError(f"crop view '{name}': expected keys camera, box, size, got {raw!r}")
        box, size = list(raw["box"]), list(raw["size"])
        if len(box) != 4 or len(size) != 2:
            raise ValueError(f"crop view '{name}': box needs 4 fractions and size 2 pixel counts, got {raw!r}")
        views.append(CropView(str(name), str(raw["camera"]), tuple(float(v) for v in box),
                              tuple(int(v) for v in size)))
    return tuple(views)


def with_crop_views(images: Mapping[str, np.ndarray], views: tuple[CropView, ...]) -> dict[str, np.ndarray]:
    """The cameras plus every view whose camera is present."""
    out = dict(images)
    for view in views:
        if view.name in images:
            raise ValueError(f"crop view '{view.name}' has the name of a camera in the observation")
        if view.camera in images:
            out[view.name] = view.apply(images[view.camera])
    return out
