"""Image-text co-training data for stage 1: questions and answers about rendered scenes.

Each file holds one rendered front image and its QA pairs, so the same checks and loader pattern
as episodes apply:
    attrs: kind "qa", source_task, seed, split, questions (JSON list), answers (JSON list)
    /images/front  (1, H, W, 3) uint8 RGB
Question templates (a small regular vocabulary):
    math:      "what does the board say?" -> "{a} {op} {b}";  "what is {a} {op} {b}?" -> "{c}";
               "which card shows {d}?" -> "the {ordinal} from the left";
               "what number is on the {ordinal} card from the left?" -> "{d}";
               "what numbers are on the cards, left to right?" -> "{d1} {d2} {d3}"
    (reading boards, `splits.reading_boards`, have no "what is" pair: their result is no digit)
    placement: "where is the {object}?" -> "the {object} is {ordinal} from the left";
               "is the toy left or right of the {ref}?" -> "left" | "right"
"""
from __future__ import annotations

import functools
import itertools
import json
import logging
import os
from pathlib import Path

import h5py
import numpy as np

from chatvla2.data.episode_dataset import episode_paths
from chatvla2.data.episodes import EpisodeFileError
from chatvla2.sim import splits
from chatvla2.sim.tasks import task_of
from chatvla2.sim.tasks.math_cards import CARD_COUNT, card_place_text, card_row_text, math_reasoning

LOG = logging.getLogger(__name__)


def scene_questions(scene) -> list[tuple[str, str]]:
    return task_of(scene).questions(scene)


def arithmetic_pairs() -> list[tuple[str, str]]:
    """Text-only arithmetic facts, one per single-digit equation of every split, in the reasoning's
    own "a op b = c" form: what a pretrained language model knows before it sees a robot."""
    return [(f"what is the answer to {e.text}?", f"{e.text} = {e.result}") for e in splits.all_equations()]


def reasoning_text_pair(equation: splits.Equation, digits) -> tuple[str, str]:
    """The math reasoning with everything to read given in text: the board and the cards are in
    the question, the answer is the reasoning itself, word for word as the robot writes it. What is
    left to learn from it is the rest of the chain: the sum, copying the row, finding the result in
    the row and naming its place, all in the assistant's own words (where the robot needs it)."""
    question = f"the board says {equation.text} and {card_row_text(digits)}; which card shows the answer?"
    return question, math_reasoning(equation, digits)


def reasoning_text_pairs(count: int = 20000, seed: int = 0, heldout_rows: bool = False) -> list[tuple[str, str]]:
    """`count` reasoning facts: every single-digit equation of every split (what a language model
    knows), the result among three different digits at a uniform place. Rows of three digits are
    split 4:1 by their index (`heldout_rows` picks the fifth), as the stage-0 lookups are."""
    rng = np.random.default_rng(seed)
    equations = splits.all_equations()
    rows = card_rows(heldout_rows)
    pairs = []
    while len(pairs) < count:
        equation = equations[int(rng.integers(0, len(equations)))]
        holding = [row for row in rows if equation.result in row]
        pairs.append(reasoning_text_pair(equation, holding[int(rng.integers(0, len(holding)))]))
    return pairs


@functools.lru_cache(maxsize=2)
def card_rows(heldout: bool = False) -> tuple[tuple[int, ...], ...]:
    """Rows of three different digits, split 4:1 by their index among all 720: the fifth
    (`heldout`) is kept for probes, the rest for training (stage-0 lookups, reasoning facts)."""
    return tuple(row for index, row in enumerate(itertools.permutations(range(10), CARD_COUNT))
                 if (index % 5 == 0) == heldout)


def card_place_pair(row: tuple[int, ...], place: int) -> tuple[str, str]:
    """One text-only card-place lookup, in the math reasoning's own words (card_row_text,
    the place clause): "the cards say 2 7 5; where is the card 7?" -> "the card 7 is second from
    the left"."""
    digit = row[place]
    return f"{card_row_text(row)}; where is the card {digit}?", card_place_text(row, digit)


def write_qa_file(path: Path, source_task: str, seed: int, split: str, image: np.ndarray,
                  pairs: list[tuple[str, str]]) -> Path:
    partial = path.with_name(path.name + ".partial")
    with h5py.File(partial, "w") as f:
        f.attrs.update({"kind": "qa", "source_task": source_task, "seed": seed, "split": split,
                        "questions": json.dumps([q for q, _ in pairs]),
                        "answers": json.dumps([a for _, a in pairs])})
        f.create_dataset("images/front", data=image[None], compression="gzip", compression_opts=1)
    os.replace(partial, path)
    return path


def record_qa(env, task: str, seed: int, split: str, out_dir: Path) -> Path:
    from chatvla2.sim.appearance import refuse_open_world_for_training

    refuse_open_world_for_training(split)
    scene = env.reset(task, seed, split)
    path = out_dir / f"qa_{task}_{split}_{seed:06d}.hdf5"
    return write_qa_file(path, task, seed, split, env.render("front"), scene_questions(scene))


def check_qa_file(path: Path) -> list[str]:
    """The questions of a valid file, one per QA pair; EpisodeFileError naming the file otherwise."""
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("kind") != "qa":
                raise EpisodeFileError(f"{path}: not an image-text file (attrs kind != 'qa')")
            questions, answers = json.loads(f.attrs["questions"]), json.loads(f.attrs["answers"])
            image = f["images/front"]
            if image.ndim != 4 or image.shape[0] != 1 or image.shape[3] != 3 or image.dtype != np.uint8:
                raise EpisodeFileError(f"{path}: /images/front must be (1, H, W, 3) uint8, got {image.shape}")
            image[0]  # reading the pixels exposes truncated storage
    except EpisodeFileError:
        raise
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as error:
        raise EpisodeFileError(f"{path}: unreadable image-text file ({error})") from None
    if len(questions) != len(answers) or not questions:
        raise EpisodeFileError(f"{path}: {len(questions)} questions for {len(answers)} answers")
    return questions


class ImageTextDataset:
    """Samples: images {"front": (H, W, 3) uint8}, question, answer, task "qa"."""

    def __init__(self, sources) -> None:
        self.index, self.skipped = [], []
        self.questions: list[str] = []  # the question of every sample, in index order
        for path in episode_paths(sources):
            try:
                questions = check_qa_file(path)
            except EpisodeFileError as error:
                LOG.warning("skipping image-text file: %s", error)
                self.skipped.append((path, str(error)))
                continue
            self.index.extend((path, k) for k in range(len(questions)))
            self.questions.extend(questions)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict:
        path, k = self.index[item]
        with h5py.File(path, "r") as f:
            return {"images": {"front": f["images/front"][0]},
                    "question": json.loads(f.attrs["questions"])[k],
                    "answer": json.loads(f.attrs["answers"])[k], "task": "qa"}
