import numpy as np
import pytest
import torch

from chatvla2.model.processor import IGNORE_INDEX, ChatVLA2Processor, image_processor_for
from chatvla2.model.tokenizer import build_tiny_tokenizer

REASONING = "the board says 3 + 4; 3 + 4 = 7; the card 7 is second from the left"


@pytest.fixture
def processor():
    return ChatVLA2Processor(build_tiny_tokenizer(), image_processor_for(56 * 56, 128 * 128, 14))


def test_tokenizer_round_trips_task_text():
    tokenizer = build_tiny_tokenizer()
    for text in (REASONING, "put the toy to the left of the cup", "12 - 5 = 7?", "pick the third card"):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == text
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("3 + 4; 3", add_special_tokens=False)["input_ids"])
    assert tokens == ["3", "\u2581+", "\u25814", ";", "\u25813"]
    assert tokenizer("zebra", add_special_tokens=False)["input_ids"] == [tokenizer.unk_token_id]


def test_image_tokens_follow_qwen2vl_grid(processor, images):
    example = processor.encode(images, "pick the card", REASONING)
    # cameras in name order: front (240x320) then wrist (96x128), smart_resize to multiples of 28
    grids = example.image_grid_thw.tolist()
    for (t, h, w), (height, width) in zip(grids, [(240, 320), (96, 128)]):
        assert t == 1 and h % 2 == 0 and w % 2 == 0
        assert (h * 14) * (w * 14) <= 128 * 128
        assert abs((w / h) - (width / height)) < 0.5
    pads = sum(np.prod(g) // 4 for g in grids)
    ids = np.array(example.input_ids)
    types = np.array(example.mm_token_type_ids)
    assert int((ids == processor.image_pad_id).sum()) == pads == int(types.sum())
    assert np.all(ids[types == 1] == processor.image_pad_id)
    assert example.pixel_values.shape == (sum(np.prod(g) for g in grids), 3 * 2 * 14 * 14)


def test_labels_cover_only_the_target_and_end_token(processor, images):
    batch = processor.collate([processor.encode(images, "pick the card", REASONING),
                               processor.encode([images["front"]], "put the toy left of the cup", "yes")])
    labels, ids = batch["labels"], batch["input_ids"]
    for row in range(2):
        supervised = labels[row] != IGNORE_INDEX
        target = ids[row][batch["target_mask"][row]]
        assert torch.equal(ids[row][supervised][:-1], target)
        assert int(ids[row][supervised][-1]) == processor.im_end_id
        assert not (batch["prompt_mask"][row] & supervised).any()
    assert processor.decode(ids[0][batch["target_mask"][0]].tolist()) == REASONING
    assert batch["attention_mask"][1].sum() < batch["attention_mask"][0].sum()  # right padding
    assert batch["image_grid_thw"].shape == (3, 3)


def test_bad_image_is_rejected_with_its_index(processor):
    with pytest.raises(ValueError, match="image 0"):
        processor.encode([np.zeros((10, 10), dtype=np.uint8)], "pick")
