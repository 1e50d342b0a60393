"""Stage-0 pretraining data: procedural images with questions that need reading and ordering.

What a pretrained Qwen2-VL brings to the paper (reading small text anywhere, naming objects in
order) is what the tiny base must learn here, from images drawn with OpenCV, a fresh one for
every sample, so no image repeats and a symbol is seen at every offset from the patch grid:

    single   one card (8-16 px) anywhere in a 28-84 px image   "what number is on the card?" -> "7"
             (single_small: in a 28-42 px image, 4-9 merged tokens: where the curriculum starts)
    row      2-4 cards (8-22 px) left to right anywhere in a strip or square (the card-row view's scale):
             "what numbers are on the cards, left to right?" -> "0 3 6"
             "which card shows 3?" -> "the second from the left"
             "what number is on the third card from the left?" -> "6"
             "how many cards are there?" -> "3"
    board    a white board with "a op b = ?" at a random place and size  "what does the board say?"
    sim      a rendered MuJoCo front frame of a TRAIN-split scene (`SimFramePool`): the whole frame
             (board, count) or the card-row box cut at full resolution, shifted (the cards)
    text     arithmetic facts without an image: "what is the answer to 4 - 2?" -> "4 - 2 = 2"
    lookup   card-place lookups without an image, in the math reasoning's words:
             "the cards say 2 7 5; where is the card 7?" -> "the card 7 is second from the left"
             (rows of three different digits; every fifth row is kept for the held-out probe)
    reasoning the math reasoning from text, word for word as the robot writes it:
             "the board says 3 + 4 and the cards say 2 7 5; which card shows the answer?" ->
             "the board says 3 + 4; 3 + 4 = 7; the cards say 2 7 5; the card 7 is second from the left"

Boards only ever show training and reading-board equations (`splits`): no held-out task board
is drawn or rendered. Backgrounds: table-like wood tones with grain and noise, or flat noise of a
random colour; the sim kind brings the real table, board and lighting. Every sample is a pure function of (kind, seed), so a held-out probe
set is a seed range no training step uses (`HELDOUT_SEED_BASE`).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from chatvla2.data.image_text import arithmetic_pairs, card_place_pair, card_rows, reasoning_text_pairs
from chatvla2.sim import splits
from chatvla2.sim.scenes import ORDINALS

KINDS = ("single", "row", "board", "sim", "text", "single_small", "lookup", "reasoning")
HELDOUT_SEED_BASE = 1_000_000_000  # probe seeds start here; training seeds stay below
PATCH_MULTIPLE = 14  # patch 7 x merge 2: image sides that the processor keeps unresized


@dataclass(frozen=True)
class ReadingSample:
    """One question about one image (None: a text-only fact)."""

    kind: str
    image: np.ndarray | None  # (H, W, 3) uint8 RGB
    question: str
    answer: str


def board_equations() -> tuple[splits.Equation, ...]:
    """Everything a stage-0 board may show: training equations and reading boards, never held-out."""
    return splits.equations_for("train") + splits.reading_boards()


def table_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8: wood-like tones with grain, or flat noise of a random colour."""
    base = np.array([rng.uniform(120, 200), rng.uniform(80, 140), rng.uniform(40, 90)])  # RGB, brownish
    if rng.random() < 0.3:
        base = rng.uniform(30, 220, 3)
    ys = np.arange(height, dtype=np.float32)[:, None]
    grain = np.sin(ys * rng.uniform(0.2, 1.2) + rng.uniform(0, 6.28)) * rng.uniform(0, 12)  # (H, 1)
    gradient = np.linspace(-1, 1, width, dtype=np.float32)[None, :] * rng.uniform(-20, 20)  # (1, W)
    noise = rng.normal(0, rng.uniform(2, 10), (height, width, 1))
    image = base[None, None, :] + (grain + gradient)[:, :, None] + noise
    return np.clip(image, 0, 255).astype(np.uint8)


def draw_card(image: np.ndarray, digit: int, x: int, y: int, size_px: int, rng: np.random.Generator) -> None:
    """A white card with a dark digit, top-left corner (x, y), about size_px square (in place)."""
    height = size_px
    width = max(6, int(round(size_px * rng.uniform(0.85, 1.1))))
    white = rng.uniform(215, 250)
    shade = 0.55 * white
    cv2.rectangle(image, (x + 1, y + 1), (x + width, y + height), (shade,) * 3, -1)  # shadow
    cv2.rectangle(image, (x, y), (x + width - 1, y + height - 1), (white,) * 3, -1)
    put_text_centred(image, str(digit), x + width / 2, y + height / 2, 0.7 * height, rng)


def put_text_centred(image: np.ndarray, text: str, cx: float, cy: float, height_px: float,
                     rng: np.random.Generator) -> None:
    scale = height_px / 22.0  # Hershey simplex digits are ~22 px high at scale 1
    thickness = 1 if height_px < 14 else 2
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    ink = float(rng.uniform(0, 50))
    cv2.putText(image, text, (int(round(cx - w / 2)), int(round(cy + h / 2))), cv2.FONT_HERSHEY_SIMPLEX,
                scale, (ink,) * 3, thickness, cv2.LINE_AA)


def side(rng: np.random.Generator, low: int, high: int) -> int:
    """A random image side between low and high that is a multiple of PATCH_MULTIPLE."""
    return int(rng.integers(low // PATCH_MULTIPLE, high // PATCH_MULTIPLE + 1)) * PATCH_MULTIPLE


def single_card(rng: np.random.Generator, max_side: int = 84) -> ReadingSample:
    height = width = side(rng, 28, max_side)
    image = table_background(rng, height, width)
    size = int(rng.integers(8, min(17, height - 2)))
    digit = int(rng.integers(0, 10))
    draw_card(image, digit, int(rng.integers(0, width - size - 1)), int(rng.integers(0, height - size - 1)), size, rng)
    return ReadingSample("single", image, "what number is on the card?", str(digit))


def card_row(rng: np.random.Generator, max_cards: int = 4) -> ReadingSample:
    """2..max_cards cards with left-to-right x order (slight vertical jitter) in a strip or square."""
    count = int(rng.integers(2, max_cards + 1))
    if rng.random() < 0.6:  # the card-row view's shape, within the 84 x 84 pixel budget
        width = side(rng, 112, 168)
        height = side(rng, 28, min(56, 84 * 84 // width))
    else:
        height = width = side(rng, 56, 84)
    image = table_background(rng, height, width)
    size = int(rng.integers(8, min(23, height - 2)))  # the card-row view shows cards up to ~20 px
    slot_width = width // count
    if slot_width < size + 2:
        count = max(2, width // (size + 2))
        slot_width = width // count
    digits = [int(d) for d in rng.choice(10, count, replace=False)]
    base_y = int(rng.integers(0, height - size - 1))
    for index, digit in enumerate(digits):
        x = index * slot_width + int(rng.integers(0, slot_width - size - 1))
        y = int(np.clip(base_y + rng.integers(-3, 4), 0, height - size - 1))
        draw_card(image, digit, x, y, size, rng)
    return ReadingSample("row", image, *row_question(rng, digits))


def row_question(rng: np.random.Generator, digits: list[int]) -> tuple[str, str]:
    """One of the four row questions about cards `digits`, listed left to right."""
    kind = rng.choice(["numbers", "which", "nth", "count"], p=[0.4, 0.3, 0.2, 0.1])
    if kind == "numbers":
        return "what numbers are on the cards, left to right?", " ".join(str(d) for d in digits)
    index = int(rng.integers(0, len(digits)))
    if kind == "which":
        return f"which card shows {digits[index]}?", f"the {ORDINALS[index]} from the left"
    if kind == "nth":
        return f"what number is on the {ORDINALS[index]} card from the left?", str(digits[index])
    return "how many cards are there?", str(len(digits))


def board(rng: np.random.Generator) -> ReadingSample:
    height = width = side(rng, 56, 84)
    image = table_background(rng, height, width)
    equation = board_equations()[int(rng.integers(0, len(board_equations())))]
    text = f"{equation.text} = ?"
    board_w = int(rng.integers(int(width * 0.6), width - 1))
    board_h = int(rng.integers(max(12, board_w // 5), max(13, board_w // 3)))
    x, y = int(rng.integers(0, width - board_w)), int(rng.integers(0, height - board_h))
    white = float(rng.uniform(215, 250))
    cv2.rectangle(image, (x, y), (x + board_w - 1, y + board_h - 1), (white,) * 3, -1)
    cv2.rectangle(image, (x, y), (x + board_w - 1, y + board_h - 1), (40.0,) * 3, 1)
    (w, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)
    glyph_h = min(0.6 * board_h, 22.0 * 0.9 * board_w / w)
    put_text_centred(image, text, x + board_w / 2, y + board_h / 2, glyph_h, rng)
    return ReadingSample("board", image, "what does the board say?", equation.text)


def arithmetic(rng: np.random.Generator) -> ReadingSample:
    pairs = arithmetic_pairs()
    question, answer = pairs[int(rng.integers(0, len(pairs)))]
    return ReadingSample("text", None, question, answer)


def lookup(rng: np.random.Generator, heldout: bool = False) -> ReadingSample:
    """A card-place lookup over a training row (4 of 5 rows) or a held-out one (the fifth)."""
    rows = card_rows(heldout)
    question, answer = card_place_pair(rows[int(rng.integers(0, len(rows)))], int(rng.integers(0, 3)))
    return ReadingSample("lookup", None, question, answer)


def make_sample(kind: str, seed: int, pool: "SimFramePool | None" = None) -> ReadingSample:
    """The sample of `kind` for `seed` (deterministic). `sim` needs a frame pool."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    if kind == "single":
        return single_card(rng)
    if kind == "single_small":  # the curriculum's first step: a few image tokens to search
        return single_card(rng, max_side=42)
    if kind == "row":
        return card_row(rng)
    if kind == "board":
        return board(rng)
    if kind == "text":
        return arithmetic(rng)
    if kind == "lookup":
        return lookup(rng, heldout=seed >= HELDOUT_SEED_BASE)
    if kind == "reasoning":
        question, answer = reasoning_text_pairs(1, seed=int(rng.integers(0, 2**31)),
                                                heldout_rows=seed >= HELDOUT_SEED_BASE)[0]
        return ReadingSample("reasoning", None, question, answer)
    if kind == "sim":
        if pool is None:
            raise ValueError("sim samples need a SimFramePool (rendered training scenes)")
        return pool.sample(rng)
    raise ValueError(f"unknown reading sample kind '{kind}': use one of {KINDS}")


class SimFramePool:
    """Front frames of rendered TRAIN-split math scenes with what they show.

    frames (N, 224, 224, 3) uint8; digits[i] the cards left to right; boards[i] the board text.
    A sample is the whole frame scaled to a side of 84 (board, count) or the card-row box (the
    model's `front_cards` view: `row_box`, fractions top, left, bottom, right) cut at full
    resolution with its edges shifted by up to `shift_px`, so the cards sit at new offsets."""

    def __init__(self, frames: np.ndarray, digits: list[list[int]], boards: list[str],
                 row_box: tuple[float, float, float, float] = (0.585, 0.125, 0.772, 0.875),
                 row_size: tuple[int, int] = (168, 42), shift_px: int = 6) -> None:
        if len(frames) != len(digits) or len(frames) != len(boards) or len(frames) == 0:
            raise ValueError(f"sim frame pool: {len(frames)} frames, {len(digits)} card rows, {len(boards)} boards")
        self.frames, self.digits, self.boards = frames, digits, boards
        self.row_box, self.row_size, self.shift_px = row_box, row_size, shift_px

    @classmethod
    def render(cls, seeds: range, show_progress: bool = False) -> "SimFramePool":
        from tqdm import tqdm

        from chatvla2.control.robot import load_robot_spec
        from chatvla2.sim.env import SimConfig, TaskEnv

        env = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(cameras=("front",)))
        frames, digits, boards = [], [], []
        try:
            for seed in tqdm(seeds, desc="rendering sim frames", disable=not show_progress):
                scene = env.reset("math", seed, "train")
                frames.append(env.render("front"))
                digits.append([card.digit for card in scene.cards])
                boards.append(scene.equation.text)
        finally:
            env.close_renderer()
        return cls(np.stack(frames), digits, boards)

    def save(self, path) -> None:
        np.savez_compressed(path, frames=self.frames, digits=np.array(self.digits), boards=np.array(self.boards))

    @classmethod
    def load(cls, path) -> "SimFramePool":
        with np.load(path) as data:
            return cls(data["frames"], [list(map(int, row)) for row in data["digits"]], [str(b) for b in data["boards"]])

    def sample(self, rng: np.random.Generator) -> ReadingSample:
        index = int(rng.integers(0, len(self.frames)))
        frame, digits = self.frames[index], self.digits[index]
        if rng.random() < 0.35:
            whole = cv2.resize(frame, (84, 84), interpolation=cv2.INTER_AREA)
            if rng.random() < 0.7:
                return ReadingSample("sim", whole, "what does the board say?", self.boards[index])
            return ReadingSample("sim", whole, "how many cards are there?", str(len(digits)))
        return ReadingSample("sim", self.row_view(frame, rng), *row_question(rng, digits))

    def row_view(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        height, width = frame.shape[:2]
        top, left, bottom, right = self.row_box
        shift = lambda: int(rng.integers(-self.shift_px, self.shift_px + 1))  # noqa: E731
        y0 = int(np.clip(top * height + shift(), 0, height - 2))
        x0 = int(np.clip(left * width + shift(), 0, width - 2))
        y1 = int(np.clip(bottom * height + shift(), y0 + 1, height))
        x1 = int(np.clip(right * width + shift(), x0 + 1, width))
        return cv2.resize(np.ascontiguousarray(frame[y0:y1, x0:x1]), self.row_size, interpolation=cv2.INTER_AREA)
