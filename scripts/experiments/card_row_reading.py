"""Card-row reading experiments r8-r17 (CHANGELOG.md, model history; the full write-up is docs/training.md at commit 7271393):
train a fresh tiny VLM on image-text questions about the cards only (plus 20% text-only arithmetic
facts, as in reading_warmup.py) and report, every 250 steps, on the held-out scenes: card rows read
exactly ("what numbers are on the cards?" -> "0 3 6", left to right), single card close-ups read
("what number is on the card?"), boards read exactly, arithmetic facts.

    python scripts/experiments/card_row_reading.py QA_DIR[,QA_DIR...] HELDOUT_QA_DIR STEPS LR QUESTIONS VIEW [SIDE]
    e.g. python scripts/experiments/card_row_reading.py runs/data/qa_reading,runs/data/qa_train \
             runs/data/qa_heldout 2000 3e-4 close-up+row slots

QUESTIONS: parts joined by '+', each sample asks one part chosen uniformly: 'row' (the card row,
built from the file's per-card answers), 'close-up' (one card's digit; the image is that card
alone, cut as the VIEW cuts it), 'board' ("what does the board say?").
VIEW: how the model sees the cards besides the front image: 'none'; 'row' (the card row cut from the
224x224 front image, rows 131-173, columns 28-196, resized to 224x56: 16 more image tokens;
a close-up is a 56x56 cut centred on one card of that view); 'slots' (one 56x56 view per card slot,
rows 130-174 and the slot's columns, 4 x 4 more tokens; a close-up is an occupied slot's view).
SIDE (default 128) sets the processor's max_pixels to SIDE * SIDE for the front image.
TORCH_THREADS (default 2) sets torch's threads, to run two experiments side by side.
CLOSE_UP_JITTER (px, default 0; VIEW 'row' only) moves each training close-up's centre by up to
that many pixels of the row view in x and y, so a digit is seen at every offset from the image
patch grid; with it the evaluation also reports close-ups jittered the same way (fixed seed).
"""
import glob, json, os, sys, time

import h5py, numpy as np, torch
from PIL import Image

from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.sim import scenes
from chatvla2.train.samples import ARITHMETIC, QATrainingSet, TextSample
from chatvla2.train.stages import text_batch

ROW_Q, CLOSE_UP_Q, BOARD_Q = "what numbers are on the cards?", "what number is on the card?", "what does the board say?"
ROW_BOX = (131, 173, 28, 196)  # rows, columns of the 224x224 front image holding every card
SLOT_COLUMNS = ((48, 84), (80, 113), (110, 144), (139, 176))  # measured over 1,800 train scenes
SLOT_ROWS = (130, 174)

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", 2)))
torch.manual_seed(0)
dirs, test_dir, steps, lr = sys.argv[1].split(","), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
parts, view = sys.argv[5].split("+"), sys.argv[6]
side = int(sys.argv[7]) if len(sys.argv) > 7 else 128
jitter = int(os.environ.get("CLOSE_UP_JITTER", 0))
assert set(parts) <= {"row", "close-up", "board"} and view in ("none", "row", "slots")
assert "close-up" not in parts or view != "none", "close-ups are cut as the view cuts the cards"


def resized(image, width, height):
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((width, height), Image.BILINEAR))


def row_view(front):
    r0, r1, c0, c1 = ROW_BOX
    return resized(front[r0:r1, c0:c1], 224, 56)


def slot_view(front, slot):
    c0, c1 = SLOT_COLUMNS[slot]
    return resized(front[SLOT_ROWS[0]:SLOT_ROWS[1], c0:c1], 56, 56)


def card_columns(crop):
    """Column runs of white card faces in a row view, left to right."""
    on = list((crop.min(-1) > 150).sum(0) > 2) + [False]
    runs, start = [], None
    for x, lit in enumerate(on):
        if lit and start is None:
            start = x
        if not lit and start is not None:
            if x - start >= 8:
                runs.append((start, x))
            start = None
    return runs


def close_up(front, k, slots, shift_rng=None):
    """The k-th card from the left, alone, at the scale the view shows it (centred, or moved by up
    to `jitter` px when a shift_rng is given)."""
    if view == "slots":
        return slot_view(front, slots[k])
    crop = row_view(front)
    c0, c1 = card_columns(crop)[k]
    rows = np.nonzero((crop[:, c0:c1].min(-1) > 150).sum(1) > 2)[0]
    cy, cx = (rows.min() + rows.max()) // 2, (c0 + c1) // 2
    if shift_rng is not None and jitter:
        cy = int(np.clip(cy + shift_rng.integers(-jitter, jitter + 1), 0, crop.shape[0]))
        cx = int(np.clip(cx + shift_rng.integers(-jitter, jitter + 1), 0, crop.shape[1]))
    padded = np.pad(crop, ((28, 28), (28, 28), (0, 0)), mode="edge")
    return np.ascontiguousarray(padded[cy:cy + 56, cx:cx + 56])


def images_of(front):
    images = {"front": front}
    if view == "row":
        images["front_cards"] = row_view(front)
    if view == "slots":
        images.update({f"front_slot{s + 1}": slot_view(front, s) for s in range(len(SLOT_COLUMNS))})
    return images


def scene_of(path):
    with h5py.File(path) as f:
        return scenes.sample_scene("math", int(f.attrs["seed"]), str(f.attrs["split"]))


qa = QATrainingSet(dirs, questions=[BOARD_Q])  # one board question per math scene, and its file
files = sorted({qa.pairs.index[p][0] for p in qa.positions})
cards = {path: [(c.digit, c.slot) for c in scene_of(path).cards] for path in files}
print(f"{len(files)} training scenes", flush=True)
rng = np.random.default_rng(0)


def training_sample():
    if rng.random() < 0.2:
        return ARITHMETIC[rng.integers(len(ARITHMETIC))]
    part = parts[rng.integers(len(parts))]
    position = int(rng.integers(len(qa)))
    raw = qa.text_sample(position)
    front, row = raw.images["front"], cards[qa.pairs.index[qa.positions[position]][0]]
    if part == "board":
        return TextSample(images_of(front), raw.question, raw.answer)
    if part == "row":
        return TextSample(images_of(front), ROW_Q, " ".join(str(d) for d, _ in row))
    k = int(rng.integers(len(row)))
    return TextSample({"card": close_up(front, k, [s for _, s in row], rng)}, CLOSE_UP_Q, str(row[k][0]))


test = []
for path in sorted(glob.glob(test_dir + "/*.hdf5")):
    with h5py.File(path) as f:
        if f.attrs["source_task"] == "math":
            scene = scene_of(path)
            test.append((f["images/front"][0], scene.equation, [(c.digit, c.slot) for c in scene.cards]))
model = ChatVLA2Model.from_preset("tiny", max_pixels=side * side)
model.train()
optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)


def answer(images, question, tokens=8):
    return model.generate_reasoning(images, question, max_new_tokens=tokens).text


def evaluate():
    model.eval()
    rows = closeups = shifted = boards = arithmetic = 0
    shift_rng = np.random.default_rng(1)
    for front, equation, row in test:
        rows += answer(images_of(front), ROW_Q) == " ".join(str(d) for d, _ in row)
        boards += answer(images_of(front), BOARD_Q) == equation.text
        if view != "none":
            closeups += sum(answer({"card": close_up(front, k, [s for _, s in row])}, CLOSE_UP_Q, 3) == str(d)
                            for k, (d, _) in enumerate(row))
        if jitter:
            shifted += sum(answer({"card": close_up(front, k, [s for _, s in row], shift_rng)}, CLOSE_UP_Q, 3) == str(d)
                           for k, (d, _) in enumerate(row))
        arithmetic += answer({}, f"what is the answer to {equation.text}?", 10) == f"{equation.text} = {equation.result}"
    model.train()
    n = len(test)
    moved = f" jittered close-ups {shifted}/{3 * n}" if jitter else ""
    return f"rows {rows}/{n} close-ups {closeups}/{3 * n}{moved} boards {boards}/{n} arithmetic {arithmetic}/{n}"


start = time.time()
for step in range(steps):
    out = model(text_batch(model, [training_sample() for _ in range(16)]))
    for group in optimizer.param_groups:
        group["lr"] = lr * min(1, (step + 1) / 50)
    optimizer.zero_grad()
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if step % 250 == 0 or step == steps - 1:
        print(step, f"{time.time() - start:.0f}s lm {out.lm_loss.item():.3f}", evaluate(), flush=True)
