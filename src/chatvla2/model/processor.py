"""Turns (camera images, instruction, optional target text) into Qwen2-VL model inputs.

Images go through transformers' Qwen2-VL image processor (`smart_resize` within the config's
min/max pixels, 14-pixel patches, 2x2 merge, `image_grid_thw`), and each image occupies
grid_t*grid_h*grid_w/4 `<|image_pad|>` tokens. The prompt follows Qwen2-VL's chat layout:

    <|im_start|>user\\n [<|vision_start|><|image_pad|>*n<|vision_end|>] per camera  instruction
    <|im_end|>\\n<|im_start|>assistant\\n  target text  <|im_end|>

Cameras are ordered by name when images come as a dict, so the same rig always gives the same
token order; the processor's crop views (region-of-interest images cut from a camera, see
`crop_views.py`) are added to such a dict first and ordered by their own names. `encode` makes one example, `collate` a right-padded batch:

    input_ids (B, T) long, attention_mask (B, T) long, mm_token_type_ids (B, T) int (1 = image),
    pixel_values (sum of patches, 3*2*14*14) float, image_grid_thw (num images, 3) long,
    labels (B, T) long (-100 except target tokens and the closing <|im_end|>),
    prompt_mask (B, T) bool (prompt tokens: pooled into the observation embedding),
    target_mask (B, T) bool (target text tokens: pooled into the reasoning embedding).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from chatvla2.model.crop_views import CropView, with_crop_views

IGNORE_INDEX = -100


@dataclass
class EncodedExample:
    input_ids: list[int]
    mm_token_type_ids: list[int]
    labels: list[int]
    prompt_length: int  # tokens before the target text
    target_length: int  # target text tokens (without the closing <|im_end|>)
    pixel_values: np.ndarray | None  # (patches, 1176)
    image_grid_thw: np.ndarray | None  # (images, 3)


def image_processor_for(min_pixels: int, max_pixels: int, patch_size: int):
    """`patch_size` must be the vision tower's (`vision_config.patch_size`)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels, patch_size=patch_size)


def check_frame(frame, what: str) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"{what} must be an (H, W, 3) uint8 RGB array, got "
                         f"{getattr(frame, 'shape', type(frame))} {getattr(frame, 'dtype', '')}")


class ChatVLA2Processor:
    """`crop_views` (`chatvla2.model.crop_views`, set by the model from its config) add region-of-
    interest images to every observation given as a camera-name mapping."""

    def __init__(self, tokenizer, image_processor, crop_views: tuple[CropView, ...] = ()) -> None:
        self.tokenizer, self.image_processor = tokenizer, image_processor
        self.crop_views = tuple(crop_views)
        ids = tokenizer.convert_tokens_to_ids(
            ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"])
        if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids:
            raise ValueError("tokenizer lacks the Qwen2-VL special tokens (<|im_start|>, <|image_pad|>, ...)")
        self.im_start_id, self.im_end_id, self.vision_start_id, self.vision_end_id, self.image_pad_id = ids
        self.merge_length = image_processor.merge_size ** 2
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.im_end_id

    def text_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True).strip()

    def encode(self, images: Mapping[str, np.ndarray] | Sequence[np.ndarray], instruction: str,
               target_text: str | None = None, unscored_prefix: str | None = None) -> EncodedExample:
        """unscored_prefix: the start of target_text that is read (teacher-forced) but takes no LM
        loss; the prefix's tokens must be the first tokens of the target's."""
        if isinstance(images, Mapping):
            for name, frame in images.items():
                check_frame(frame, f"image '{name}'")
            images = with_crop_views(images, self.crop_views)
            frames = [images[name] for name in sorted(images)]
        else:
            frames = list(images)
            for index, frame in enumerate(frames):
                check_frame(frame, f"image {index}")
        pixel_values = grid = None
        ids = [self.im_start_id] + self.text_ids("user\n")
        types = [0] * len(ids)
        if frames:
            processed = self.image_processor(images=frames, return_tensors="np")
            pixel_values, grid = processed["pixel_values"], processed["image_grid_thw"]
            for thw in grid:
                count = int(np.prod(thw)) // self.merge_length
                ids += [self.vision_start_id] + [self.image_pad_id] * count + [self.vision_end_id]
                types += [0] + [1] * count + [0]
        tail = self.text_ids(instruction) + [self.im_end_id] + self.text_ids("\n")
        tail += [self.im_start_id] + self.text_ids("assistant\n")
        ids += tail
        types += [0] * len(tail)
        prompt_length = len(ids)
        labels = [IGNORE_INDEX] * prompt_length
        target = self.text_ids(target_text) if target_text else []
        if target_text is not None:
            ids += target + [self.im_end_id]
            types += [0] * (len(target) + 1)
            labels += target + [self.im_end_id]
            if unscored_prefix:
                skip = len(self.text_ids(unscored_prefix))
                if not target_text.startswith(unscored_prefix) or target[:skip] != self.text_ids(unscored_prefix):
                    raise ValueError(f"unscored prefix {unscored_prefix!r} does not start the target {target_text!r}")
                labels[prompt_length: prompt_length + skip] = [IGNORE_INDEX] * skip
        return EncodedExample(ids, types, labels, prompt_length, len(target), pixel_values, grid)

    def collate(self, examples: Sequence[EncodedExample]) -> dict[str, torch.Tensor]:
        length = max(len(example.input_ids) for example in examples)
        batch = len(examples)
        input_ids = torch.full((batch, length), self.pad_id, dtype=torch.long)
        labels = torch.full((batch, length), IGNORE_INDEX, dtype=torch.long)
        types = torch.zeros((batch, length), dtype=torch.int32)
        attention = torch.zeros((batch, length), dtype=torch.long)
        prompt_mask = torch.zeros((batch, length), dtype=torch.bool)
        target_mask = torch.zeros((batch, length), dtype=torch.bool)
        for row, example in enumerate(examples):
            n = len(example.input_ids)
            input_ids[row, :n] = torch.tensor(example.input_ids)
            labels[row, :n] = torch.tensor(example.labels)
            types[row, :n] = torch.tensor(example.mm_token_type_ids, dtype=torch.int32)
            attention[row, :n] = 1
            prompt_mask[row, :example.prompt_length] = True
            target_mask[row, example.prompt_length:example.prompt_length + example.target_length] = True
        out = {"input_ids": input_ids, "attention_mask": attention, "mm_token_type_ids": types,
               "labels": labels, "prompt_mask": prompt_mask, "target_mask": target_mask}
        pixels = [e.pixel_values for e in examples if e.pixel_values is not None]
        if pixels:
            out["pixel_values"] = torch.from_numpy(np.concatenate(pixels, axis=0)).float()
            out["image_grid_thw"] = torch.from_numpy(
                np.concatenate([e.image_grid_thw for e in examples if e.image_grid_thw is not None])).long()
        return out

    def __call__(self, images, instruction: str, target_text: str | None = None) -> dict[str, torch.Tensor]:
        """One example as a batch of one."""
        return self.collate([self.encode(images, instruction, target_text)])

    def save_pretrained(self, directory: str | Path) -> None:
        self.tokenizer.save_pretrained(directory)
        self.image_processor.save_pretrained(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "ChatVLA2Processor":
        # The fast-tokenizer class directly: AutoTokenizer would read config.json (model type
        # chatvla2, unknown to transformers) to pick a class and warn about the mismatch.
        from transformers import PreTrainedTokenizerFast
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        directory = Path(directory)
        for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"checkpoint '{directory}' is missing {name}")
        try:
            tokenizer = PreTrainedTokenizerFast.from_pretrained(directory)
            image_processor = Qwen2VLImageProcessorPil.from_pretrained(directory)
        except (OSError, ValueError) as error:
            raise ValueError(f"checkpoint '{directory}': cannot read the tokenizer or "
                             f"preprocessor_config.json: {error}") from None
        return cls(tokenizer, image_processor)
