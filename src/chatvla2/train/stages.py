"""What each training stage optimises, and how a batch becomes the model's inputs.

Stage 1 trains everything with `ChatVLA2Model.forward`: the LM loss on the reasoning (robot
batches) or the answer (image-text batches), the diffusion loss on the action chunk (robot
batches only) and the router load-balancing loss.

Stage 2 freezes the VLM (eval mode: no router noise, no gradient) and trains the action head with
the diffusion loss only. The head is conditioned on the model's OWN reasoning: for every episode
the frozen model generates its reasoning once from the episode's first frame, as the runtime does
when an instruction arrives; each training frame is then encoded with that generated text in
place of the annotation, so the reasoning embedding the head learns from is the one it will get
at inference, mistakes included. A named-card episode (its annotation names a card that is not the
answer: `data/recording.py`) keeps the model's own text up to the place and takes the annotation's
place clause, since the lifted card is the one the annotation names (`head_reasoning`).
"""
from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from chatvla2.model.action_head import TokenContext
from chatvla2.model.chatvla2 import ChatVLA2Model, masked_mean
from chatvla2.model.target_locator import LocatorTarget, locator_loss, name_accuracy, pointer_accuracy
from chatvla2.sim.tasks.math_cards import card_place_text, card_row_text
from chatvla2.train.samples import RobotTrainingSet, RobotSample, TextSample


def robot_batch(model: ChatVLA2Model, samples: list[RobotSample], targets: list[str] | None = None,
                unscored: list[str | None] | None = None):
    """Processor batch + state (B, S) + actions (B, H, A); `targets` replace the annotations and
    `unscored[i]` (if any) is a start of target i that takes no LM loss."""
    texts = targets if targets is not None else [s.reasoning for s in samples]
    prefixes = unscored if unscored is not None else [None] * len(samples)
    batch = model.processor.collate([model.processor.encode(s.images, s.instruction, text, prefix)
                                     for s, text, prefix in zip(samples, texts, prefixes)])
    state = torch.from_numpy(np.stack([s.state for s in samples]))  # (B, S)
    actions = torch.from_numpy(np.stack([s.actions for s in samples]))  # (B, H, A)
    return batch, state, actions


ROW_CLAUSE = re.compile(r"^(?P<head>.*; )the cards say (?P<row>\d(?: \d)+); the card (?P<answer>\d) is \w+ from the left$")


RESULT_BEFORE_ROW = re.compile(r"= (?P<result>\d); $")  # the end of ROW_CLAUSE's head: "...; 3 + 4 = 7; "
PLACE_CLAUSE_START = "; the card "


def names_other_card(reasoning: str) -> bool:
    """Whether a math reasoning's last clause names a card other than its answer (a named-card
    episode's annotation)."""
    match = ROW_CLAUSE.match(reasoning)
    result = RESULT_BEFORE_ROW.search(match["head"]) if match else None
    return result is not None and result["result"] != match["answer"]


def head_reasoning(own: str, annotation: str) -> str:
    """The text stage 2 conditions an episode's head on: the frozen model's own reasoning, except for
    a named-card episode, whose place clause (the card the expert lifted) comes from the annotation.
    The rest of the own text, a misread board or row included, stays; own text without a place
    clause is replaced by the annotation whole."""
    if not names_other_card(annotation):
        return own
    place = annotation[annotation.rindex(PLACE_CLAUSE_START):]
    if PLACE_CLAUSE_START not in own:
        return annotation
    return own[:own.rindex(PLACE_CLAUSE_START)] + place


def counterfactual_row(reasoning: str, rng: np.random.Generator) -> tuple[str, str] | None:
    """The math reasoning with its card row in another order and the place that order gives, plus
    the unscored prefix (everything up to and including the row). Trained on with the prefix
    unscored and no action loss, the language model learns that the place follows the row it has
    written, not the picture (where a habit for the training scenes' places can hide). None for a
    reasoning without a card row holding the answer."""
    match = ROW_CLAUSE.match(reasoning)
    if match is None or match["answer"] not in match["row"].split():
        return None
    digits, answer = match["row"].split(), match["answer"]
    order = list(digits)
    while order == digits:
        order = [str(d) for d in rng.permutation(digits)]
    prefix = f"{match['head']}{card_row_text(order)};"
    return f"{prefix} {card_place_text(order, answer)}", prefix


def text_batch(model: ChatVLA2Model, samples: list[TextSample]):
    return model.processor.collate([model.processor.encode(s.images, s.question, s.answer) for s in samples])


def freeze_vlm(model: ChatVLA2Model) -> None:
    for parameter in model.vlm.parameters():
        parameter.requires_grad_(False)
    model.vlm.eval()


def frame_embeddings(model: ChatVLA2Model, batch: dict[str, torch.Tensor]
                     ) -> tuple[torch.Tensor, torch.Tensor, TokenContext | None]:
    """The frozen VLM's (observation (B, D), reasoning (B, D)) embeddings of a processor batch:
    the mean hidden state of the prompt tokens and of the target (reasoning) tokens; and, for a
    head that reads tokens (token attention, a target locator), the token states themselves (else None)."""
    with torch.no_grad():
        model.vlm.model.rope_deltas = None
        hidden = model.run_vlm(batch).last_hidden_state  # (B, T, D)
        observation = masked_mean(hidden, batch["prompt_mask"].to(model.device))
        reasoning = masked_mean(hidden, batch["target_mask"].to(model.device))
        context = model.batch_context(batch, hidden) if model.config.action_head.reads_tokens else None
    return observation, reasoning, context


class HeadTrainingStep(nn.Module):
    """Stage 2's forward: (observation, reasoning) embeddings of the frozen VLM (and, for a head
    that reads tokens, its token states) -> the head's loss.

    A module of its own so that DistributedDataParallel can wrap it (DDP hooks `forward`); the
    VLM's parameters are frozen, so DDP synchronises the head's gradients only.
    """

    def __init__(self, model: ChatVLA2Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, observation: torch.Tensor, reasoning: torch.Tensor, state: torch.Tensor,
                actions: torch.Tensor, context: TokenContext | None = None,
                truth: LocatorTarget | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss and its parts by name. A head with a target locator is given the locator's
        output detached (the locator learns from its own loss, `truth`, alone); its loss is added
        with `locator_loss_weight`."""
        names = truth.names if truth is not None else None
        located = self.model.head.locate(context.to(self.model.device, observation.dtype), names) if (
            self.model.head.locator is not None) else None
        target = located.target.detach() if located is not None else None
        diffusion = self.model.diffusion_loss(observation, reasoning, state, actions, context=context, target=target)
        if located is None:
            return diffusion, {"diffusion_loss": diffusion.item()}
        if truth is None:
            raise ValueError("training a head with a target locator needs its ground truth (locator_targets)")
        located_loss = locator_loss(located, truth)
        values = {"diffusion_loss": diffusion.item(), "locator_loss": located_loss.item(),
                  "locator_pointer_accuracy": pointer_accuracy(located, truth),
                  **({"locator_name_accuracy": name_accuracy(located, truth)} if located.name_logits else {}),
                  "locator_error_rms": float((located.target.detach().float() - truth.position.to(
                      located.target.device)).pow(2).mean().sqrt())}
        return diffusion + self.model.config.locator_loss_weight * located_loss, values


class OwnReasoningCache:
    """Episode index -> the reasoning text the frozen model generates from the first frame
    (`head_reasoning`: a named-card episode's place clause is the annotation's)."""

    def __init__(self, model: ChatVLA2Model, dataset: RobotTrainingSet, texts: dict[int, str] | None = None) -> None:
        self.model, self.dataset = model, dataset
        self.texts: dict[int, str] = dict(texts or {})

    def get(self, episode: int) -> str:
        if episode not in self.texts:
            instruction = self.dataset.text[episode][0]
            images = self.dataset.first_frame(episode)
            was_training = self.model.vlm.training
            self.model.vlm.eval()
            own = self.model.generate_reasoning(images, instruction).text
            self.model.vlm.train(was_training)
            self.texts[episode] = head_reasoning(own, self.dataset.text[episode][1])
        return self.texts[episode]

    def agreement(self) -> float:
        """Share of cached episodes whose generated reasoning equals the annotation exactly."""
        if not self.texts:
            return float("nan")
        return float(np.mean([self.texts[e] == self.dataset.text[e][1] for e in self.texts]))
