"""The math-matching task: a board shows an equation, three cards show digits, the robot lifts
the card that shows the answer.

  instruction: "pick up the card that shows the answer"
  reasoning:   "the board says {a} {op} {b}; {a} {op} {b} = {c}; the cards say {d1} {d2} {d3};
                the card {c} is {ordinal} from the left"
The card row is spelled out before the answer's place is named: the place is then a lookup in
the model's own text (which the language model learns from text alone,
`chatvla2.data.image_text.reasoning_text_pairs`) instead of a second visual judgement.
Splits (sim/splits.py): train and held-out equations, card-swap (the answer in the slot no
training answer lies in), and reading boards for image-text data only.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from chatvla2.sim import appearance, splits
from chatvla2.sim.scenes import HOVER_M, ORDINALS
from chatvla2.sim.tasks import Task
from chatvla2.sim.textures import png_bytes, text_image

MATH_INSTRUCTION = "pick up the card that shows the answer"
CARD_SLOT_Y_M = (0.15, 0.05, -0.05, -0.15)  # slot 0 is the leftmost seen from the front camera
CARD_X_M = 0.45
CARD_HALF_M = (0.008, 0.035, 0.04)  # thin along x, the digit faces the front camera (-x)
CARD_COUNT = 3
LIFT_SUCCESS_M = 0.08  # a card counts as picked once its centre rose this much


@dataclass(frozen=True)
class Card:
    digit: int
    slot: int
    pos_m: tuple[float, float, float]


@dataclass(frozen=True)
class MathScene:
    seed: int
    split: str
    equation: splits.Equation
    cards: tuple[Card, ...]  # sorted left to right
    appearance: appearance.Appearance = appearance.DEFAULT  # font, colours, light, camera

    task = "math"
    instruction = MATH_INSTRUCTION

    @property
    def answer_card(self) -> Card:
        return next(c for c in self.cards if c.digit == self.equation.result)

    @property
    def answer_place(self) -> int:
        """The answer card's place in the row, 0 = first from the left."""
        return self.cards.index(self.answer_card)

    @property
    def reasoning(self) -> str:
        return math_reasoning(self.equation, [c.digit for c in self.cards])


def card_row_text(digits) -> str:
    """The reasoning's reading of the card row, left to right: "the cards say 2 7 5"."""
    return "the cards say " + " ".join(str(d) for d in digits)


def card_place_text(digits, digit: int) -> str:
    """Where `digit` lies in the row `digits` (left to right): "the card 7 is second from the left"."""
    return f"the card {digit} is {ORDINALS[list(digits).index(digit)]} from the left"


def math_reasoning(equation: splits.Equation, digits, named: int | None = None) -> str:
    """The math reasoning for a board and the cards' digits left to right (one holds the result).
    Its last clause names the card to lift: the answer, or `named` in a named-card episode."""
    return (f"the board says {equation.text}; {equation.text} = {equation.result}; {card_row_text(digits)}; "
            f"{card_place_text(digits, equation.result if named is None else named)}")


def sample_scene(seed: int, split: str) -> MathScene:
    if split == splits.READING_SPLIT:
        return sample_reading_scene(seed)
    if appearance.is_open_world(split):
        # Held-out equations and answer places, in a look no training data drew.
        scene = sample_math_scene(seed, "heldout")
        return replace(scene, split=split, appearance=appearance.appearance_for(split, seed))
    return sample_math_scene(seed, split)


def sample_math_scene(seed: int, split: str) -> MathScene:
    rng = np.random.default_rng([seed, 1])
    candidates = splits.equations_for(split)
    equation = candidates[rng.integers(len(candidates))]
    answer_slot = int(rng.choice(splits.answer_slots_for(split)))
    other_slots = [s for s in range(splits.CARD_SLOTS) if s != answer_slot]
    slots = sorted([answer_slot] + list(rng.choice(other_slots, CARD_COUNT - 1, replace=False)))
    distractors = iter(rng.choice([d for d in range(10) if d != equation.result], CARD_COUNT - 1,
                                  replace=False))
    cards = []
    for slot in slots:
        digit = equation.result if slot == answer_slot else int(next(distractors))
        cards.append(Card(digit=digit, slot=int(slot), pos_m=card_position_m(rng, slot)))
    return MathScene(seed=seed, split=split, equation=equation, cards=tuple(cards))


def sample_reading_scene(seed: int) -> MathScene:
    """A board that is no task equation (`splits.reading_boards`) and three cards with any distinct
    digits in any slots: image-text data only (it has no answer card, so no reasoning)."""
    rng = np.random.default_rng([seed, 3])
    boards = splits.reading_boards()
    equation = boards[rng.integers(len(boards))]
    slots = sorted(int(s) for s in rng.choice(splits.CARD_SLOTS, CARD_COUNT, replace=False))
    digits = [int(d) for d in rng.choice(10, CARD_COUNT, replace=False)]
    cards = tuple(Card(digit=d, slot=s, pos_m=card_position_m(rng, s)) for d, s in zip(digits, slots))
    return MathScene(seed=seed, split=splits.READING_SPLIT, equation=equation, cards=cards)


def card_position_m(rng: np.random.Generator, slot: int) -> tuple[float, float, float]:
    """A card's centre in its slot, jittered a little in depth and sideways."""
    return (CARD_X_M + rng.uniform(-0.03, 0.03), CARD_SLOT_Y_M[slot] + rng.uniform(-0.008, 0.008), CARD_HALF_M[2])


def textures(scene: MathScene) -> dict[str, bytes]:
    look = scene.appearance
    assets = {"board.png": png_bytes(text_image(f"{scene.equation.text} = ?", 512, 256, look.ink_rgb,
                                                look.paper_rgb, font=look.font))}
    for card in scene.cards:
        assets[f"card{card.digit}.png"] = png_bytes(text_image(str(card.digit), 128, 128, look.ink_rgb,
                                                               look.card_rgb, fill=0.9, font=look.font))
    return assets


def bodies(scene: MathScene) -> tuple[str, str]:
    assets = []
    hx, hy, hz = CARD_HALF_M
    cards = []
    for card in scene.cards:
        assets.append(f'<texture name="card{card.digit}" type="2d" file="card{card.digit}.png"/>')
        assets.append(f'<material name="card{card.digit}" texture="card{card.digit}"/>')
        x, y, z = card.pos_m
        cards.append(
            f'<body name="card{card.digit}" pos="{x:.5f} {y:.5f} {z + 0.001:.5f}"><freejoint/>'
            f'<geom type="box" size="{hx} {hy} {hz}" rgba="0.95 0.95 0.9 1" mass="0.03" '
            f'friction="1.5 0.05 0.001" condim="4"/>'
            f'<geom type="box" size="0.0005 {hy - 0.003} {hz - 0.003}" pos="{-hx - 0.0006} 0 0" '
            f'material="card{card.digit}" contype="0" conaffinity="0" mass="0"/></body>')
    return "\n".join(assets), "\n".join(cards)


def object_names(scene: MathScene) -> list[str]:
    return [f"card{c.digit}" for c in scene.cards]


def lifted_cards(env) -> list[int]:
    """Digits of the scene's cards whose centre rose at least `LIFT_SUCCESS_M`."""
    return [c.digit for c in env.scene.cards
            if env.body_pos(f"card{c.digit}")[2] - env.initial_body_pos[f"card{c.digit}"][2] > LIFT_SUCCESS_M]


def outcome(env) -> tuple[bool, str]:
    lifted = lifted_cards(env)
    if lifted == [env.scene.equation.result]:
        return True, "answer card lifted"
    if lifted:
        return False, f"lifted wrong card {lifted}"
    return False, "no card lifted"


def expert_waypoints(env, open_m: float, closed_m: float, card_digit: int | None = None) -> list:
    """A top-down grasp of the card showing `card_digit` (default: the answer), then a lift."""
    card = env.body_pos(f"card{env.scene.equation.result if card_digit is None else card_digit}")
    grasp = card + [0.0, 0.0, 0.012]
    above = grasp + [0.0, 0.0, HOVER_M]
    return [(above, open_m, 22), (grasp, open_m, 10), (grasp, closed_m, 6),
            (grasp + [0.0, 0.0, 0.2], closed_m, 14), (grasp + [0.0, 0.0, 0.2], closed_m, 4)]


def questions(scene: MathScene) -> list[tuple[str, str]]:
    e = scene.equation
    pairs = [("what does the board say?", e.text)]
    if scene.split != splits.READING_SPLIT:  # a reading board's result is not a single digit
        pairs.append((f"what is {e.text}?", str(e.result)))
    for i, card in enumerate(scene.cards):
        pairs.append((f"which card shows {card.digit}?", f"the {ORDINALS[i]} from the left"))
        pairs.append((f"what number is on the {ORDINALS[i]} card from the left?", str(card.digit)))
    pairs.append(("what numbers are on the cards, left to right?", " ".join(str(c.digit) for c in scene.cards)))
    return pairs


TASK = Task(
    name="math", summary="lift the card that shows the board's answer",
    splits=splits.SPLITS + (splits.READING_SPLIT,) + tuple(appearance.OPEN_WORLD_SPLITS),
    eval_splits=("heldout", "cardswap"),
    instruction_words=("equation", "math", "sum", "answer", "+", "="),
    sample_scene=sample_scene, textures=textures, bodies=bodies, object_names=object_names,
    outcome=outcome, expert_waypoints=expert_waypoints, questions=questions,
    answer_place=lambda scene: scene.answer_place, final_failures=("lifted wrong card",))
