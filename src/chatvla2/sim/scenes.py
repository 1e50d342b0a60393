"""The two tasks' scenes: what is on the table, the instruction and the reasoning annotation.

A scene is sampled from (seed, split) alone, so an episode can be rebuilt from its file's attrs.
Reasoning follows fixed templates with a small regular vocabulary (a tiny word-level model learns
them):
  math:      "the board says {a} {op} {b}; {a} {op} {b} = {c}; the cards say {d1} {d2} {d3};
              the card {c} is {ordinal} from the left"
             The card row is spelled out before the answer's place is named: the place is then a
             lookup in the model's own text (which the language model learns from text alone,
             `chatvla2.data.image_text.reasoning_text_pairs`) instead of a second visual judgement.
  placement: "the toy is {ordinal} from the left; the {ref} is {ordinal} from the left;
              put the toy {left|right} of the {ref}"
Left and right are as the front camera sees them (world +y is left).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chatvla2.sim import splits
from chatvla2.sim.textures import png_bytes, text_image

TASKS = ("math", "placement")
ORDINALS = ("first", "second", "third", "fourth")
MATH_INSTRUCTION = "pick up the card that shows the answer"
CARD_SLOT_Y_M = (0.15, 0.05, -0.05, -0.15)  # slot 0 is the leftmost seen from the front camera
CARD_X_M = 0.45
CARD_HALF_M = (0.008, 0.035, 0.04)  # thin along x, the digit faces the front camera (-x)
CARD_COUNT = 3
TOY_HALF_M = 0.02
CUP_RADIUS_M, CUP_HALF_HEIGHT_M = 0.035, 0.045
PLATE_RADIUS_M, PLATE_HALF_HEIGHT_M = 0.05, 0.008
PLACE_OFFSET_M = 0.12  # the expert puts the toy this far beside the reference
LIFT_SUCCESS_M = 0.08  # a card counts as picked once its centre rose this much
ROBOT_BASE_POS_M = (0.45, -0.58, 0.0)  # the arm reaches across the table from the right
REACH_M = 0.76  # farthest table point from the base a top-down grasp reaches with margin


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


@dataclass(frozen=True)
class PlacementScene:
    seed: int
    split: str
    relation: str  # "left" | "right"
    reference: str  # "cup" | "plate"
    positions_m: dict  # object name -> (x, y) on the table

    task = "placement"

    @property
    def instruction(self) -> str:
        return f"put the toy to the {self.relation} of the {self.reference}"

    def ordinal(self, name: str) -> str:
        by_left = sorted(self.positions_m, key=lambda n: -self.positions_m[n][1])
        return ORDINALS[by_left.index(name)]

    @property
    def reasoning(self) -> str:
        return (f"the toy is {self.ordinal('toy')} from the left; the {self.reference} is "
                f"{self.ordinal(self.reference)} from the left; put the toy {self.relation} of the "
                f"{self.reference}")

    @property
    def target_xy_m(self) -> np.ndarray:
        x, y = self.positions_m[self.reference]
        return np.array([x, y + (PLACE_OFFSET_M if self.relation == "left" else -PLACE_OFFSET_M)])


def sample_scene(task: str, seed: int, split: str = "train") -> MathScene | PlacementScene:
    if task == "math" and split == splits.READING_SPLIT:
        return sample_reading_scene(seed)
    if task == "math":
        return sample_math_scene(seed, split)
    if task == "placement":
        return sample_placement_scene(seed, split)
    raise ValueError(f"unknown task '{task}': use one of {', '.join(TASKS)}")


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


def sample_placement_scene(seed: int, split: str) -> PlacementScene:
    if split == "cardswap":
        raise ValueError("the card-swap split exists only for the math task")
    rng = np.random.default_rng([seed, 2])
    x_low, x_high = splits.placement_x_range_m(split)
    relation = str(rng.choice(["left", "right"]))
    reference = str(rng.choice(["cup", "plate"]))
    other = "plate" if reference == "cup" else "cup"
    for _ in range(1000):
        ref_xy = np.array([rng.uniform(x_low, x_high), rng.uniform(-0.12, 0.12)])
        target = ref_xy + [0.0, PLACE_OFFSET_M if relation == "left" else -PLACE_OFFSET_M]
        toy = np.array([rng.uniform(0.36, 0.56), rng.uniform(-0.22, 0.22)])
        other_xy = np.array([rng.uniform(0.36, 0.56), rng.uniform(-0.22, 0.22)])
        points = [ref_xy, toy, other_xy]
        apart = all(np.linalg.norm(p - q) > 0.11 for i, p in enumerate(points) for q in points[i + 1:])
        target_free = min(np.linalg.norm(target - p) for p in (toy, other_xy)) > 0.1
        reachable = all(np.linalg.norm(p - ROBOT_BASE_POS_M[:2]) < REACH_M for p in points + [target])
        if apart and target_free and reachable and not _in_region(toy, ref_xy, relation):
            positions = {"toy": tuple(toy), reference: tuple(ref_xy), other: tuple(other_xy)}
            return PlacementScene(seed=seed, split=split, relation=relation, reference=reference,
                                  positions_m=positions)
    raise RuntimeError(f"could not lay out a placement scene for seed {seed}")


def _in_region(toy_xy, ref_xy, relation: str) -> bool:
    """The named region: 5..22 cm beside the reference on the named side, within 9 cm in depth."""
    side = toy_xy[1] - ref_xy[1] if relation == "left" else ref_xy[1] - toy_xy[1]
    return 0.05 <= side <= 0.22 and abs(toy_xy[0] - ref_xy[0]) <= 0.09


def placement_region_holds(scene: PlacementScene, toy_xy) -> bool:
    return _in_region(np.asarray(toy_xy), np.asarray(scene.positions_m[scene.reference]), scene.relation)


def scene_assets(scene) -> dict[str, bytes]:
    """Texture PNGs the scene's MJCF names, keyed by file name."""
    if isinstance(scene, MathScene):
        assets = {"board.png": png_bytes(text_image(f"{scene.equation.text} = ?", 512, 256))}
        for card in scene.cards:
            assets[f"card{card.digit}.png"] = png_bytes(text_image(str(card.digit), 128, 128, fill=0.9))
        return assets
    return {"board.png": png_bytes(text_image("", 512, 256))}


def scene_xml(scene) -> tuple[str, str]:
    """(asset XML, worldbody XML) of the scene's objects."""
    assets = ['<texture name="board" type="2d" file="board.png"/>',
              '<material name="board" texture="board"/>']
    bodies = []
    if isinstance(scene, MathScene):
        hx, hy, hz = CARD_HALF_M
        for card in scene.cards:
            assets.append(f'<texture name="card{card.digit}" type="2d" file="card{card.digit}.png"/>')
            assets.append(f'<material name="card{card.digit}" texture="card{card.digit}"/>')
            x, y, z = card.pos_m
            bodies.append(
                f'<body name="card{card.digit}" pos="{x:.5f} {y:.5f} {z + 0.001:.5f}"><freejoint/>'
                f'<geom type="box" size="{hx} {hy} {hz}" rgba="0.95 0.95 0.9 1" mass="0.03" '
                f'friction="1.5 0.05 0.001" condim="4"/>'
                f'<geom type="box" size="0.0005 {hy - 0.003} {hz - 0.003}" pos="{-hx - 0.0006} 0 0" '
                f'material="card{card.digit}" contype="0" conaffinity="0" mass="0"/></body>')
    else:
        (tx, ty), colors = scene.positions_m["toy"], {"cup": "0.2 0.35 0.85 1", "plate": "0.2 0.7 0.3 1"}
        bodies.append(f'<body name="toy" pos="{tx:.5f} {ty:.5f} {TOY_HALF_M + 0.001}"><freejoint/>'
                      f'<geom type="box" size="{TOY_HALF_M} {TOY_HALF_M} {TOY_HALF_M}" rgba="0.9 0.15 0.1 1" '
                      'mass="0.05" friction="1.5 0.05 0.001" condim="4"/></body>')
        for name, (radius, half_h) in (("cup", (CUP_RADIUS_M, CUP_HALF_HEIGHT_M)),
                                       ("plate", (PLATE_RADIUS_M, PLATE_HALF_HEIGHT_M))):
            x, y = scene.positions_m[name]
            bodies.append(f'<body name="{name}" pos="{x:.5f} {y:.5f} {half_h + 0.001}"><freejoint/>'
                          f'<geom type="cylinder" size="{radius} {half_h}" rgba="{colors[name]}" mass="0.2"/>'
                          '</body>')
    return "\n".join(assets), "\n".join(bodies)
