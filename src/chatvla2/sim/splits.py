"""Train / held-out / card-swap splits, chosen by a fixed seed and a rule, so training never sees
what evaluation reserves.

Math task: an equation `a op b` (op in + - x, every result a single digit 0..9) is held out when
a salted hash of its text falls in one fifth of the hash space, or when it is a subtraction from 9
(an operand range reserved for evaluation). Cards lie in 4 slots across the table; the rightmost
slot never holds the answer in training or held-out episodes: the card-swap split puts the answer
exactly there, with training equations, like the paper's intervention test.
Reading boards (image-text data only): every `a op b` over digits that is no task's equation
(its result is not a single digit, 7 + 8, 2 - 7, or it multiplies by 0), so QA on rendered boards
teaches the model to read each symbol without ever showing it a held-out equation's board.
Placement task: the reference object's distance from the robot (x) has a band reserved for
evaluation.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

SPLITS = ("train", "heldout", "cardswap")
READING_SPLIT = "reading"  # image-text QA scenes whose board is no task equation
SPLIT_SALT = "chatvla2-split-v1"
OPERATORS = ("+", "-", "x")
CARD_SLOTS = 4
CARDSWAP_SLOT = CARD_SLOTS - 1  # rightmost slot: never the answer's place outside card-swap
PLACEMENT_TRAIN_X_M = (0.38, 0.50)
PLACEMENT_HELDOUT_X_M = (0.52, 0.57)


@dataclass(frozen=True)
class Equation:
    a: int
    op: str
    b: int

    @property
    def text(self) -> str:
        return f"{self.a} {self.op} {self.b}"

    @property
    def result(self) -> int:
        return {"+": self.a + self.b, "-": self.a - self.b, "x": self.a * self.b}[self.op]


def digit_expressions() -> tuple[Equation, ...]:
    """Every `a op b` over digits 0..9 and the three operators."""
    return tuple(Equation(a, op, b) for op in OPERATORS for a in range(10) for b in range(10))


def is_task_equation(equation: Equation) -> bool:
    """Its result is a single digit 0..9, and it does not multiply by 0."""
    return 0 <= equation.result <= 9 and not (equation.op == "x" and 0 in (equation.a, equation.b))


def all_equations() -> tuple[Equation, ...]:
    """Every equation whose operands and result are single digits 0..9."""
    return tuple(e for e in digit_expressions() if is_task_equation(e))


def reading_boards() -> tuple[Equation, ...]:
    """Every `a op b` over digits 0..9 that `all_equations` leaves out: no split's equation."""
    return tuple(e for e in digit_expressions() if not is_task_equation(e))


def is_heldout_equation(equation: Equation) -> bool:
    digest = hashlib.sha256(f"{SPLIT_SALT}:{equation.text}".encode()).digest()
    return digest[0] % 5 == 0 or (equation.op == "-" and equation.a == 9)


def equations_for(split: str) -> tuple[Equation, ...]:
    check_split(split)
    heldout = split == "heldout"
    return tuple(e for e in all_equations() if is_heldout_equation(e) == heldout)


def answer_slots_for(split: str) -> tuple[int, ...]:
    check_split(split)
    if split == "cardswap":
        return (CARDSWAP_SLOT,)
    return tuple(s for s in range(CARD_SLOTS) if s != CARDSWAP_SLOT)


def placement_x_range_m(split: str) -> tuple[float, float]:
    check_split(split)
    return PLACEMENT_HELDOUT_X_M if split == "heldout" else PLACEMENT_TRAIN_X_M


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}': use one of {', '.join(SPLITS)}")
