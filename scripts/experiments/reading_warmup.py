"""Reading experiment (CHANGELOG.md, model history; the full write-up is docs/training.md at commit 7271393): train a fresh tiny VLM
on image-text QA only (plus 20% text-only arithmetic facts) and report, every 250 steps, how many
held-out boards it reads exactly, held-out card digits, and arithmetic answers.

    python scripts/experiments/reading_warmup.py QA_DIR[,QA_DIR...] HELDOUT_QA_DIR STEPS LR [all|board|half|card] [SIDE]
    e.g. python scripts/experiments/reading_warmup.py runs/data/qa_reading,runs/data/qa_train \
             runs/data/qa_heldout 1500 3e-4 board
'all' asks every QA question, 'board' only "what does the board say?", 'half' half of each,
'card' only "what number is on the ... card from the left?". SIDE (default 128, the tiny preset's)
sets the processor's max_pixels to SIDE * SIDE (224 feeds the 224x224 camera image unscaled).
"""
import glob, json, sys, time
import h5py, numpy as np, torch
from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.train.samples import ARITHMETIC, QATrainingSet
from chatvla2.train.stages import text_batch
torch.set_num_threads(2); torch.manual_seed(0)
dirs, test_dir, steps, lr = sys.argv[1].split(","), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
qa = QATrainingSet(dirs)
mode = sys.argv[5] if len(sys.argv) > 5 else "all"
board_idx = [i for i, question in enumerate(qa.pairs.questions) if question == "what does the board say?"]
card_idx = [i for i, question in enumerate(qa.pairs.questions) if question.startswith("what number is on")]
def qa_pick():
    if mode == "board" or (mode == "half" and rng.random() < 0.5):
        return qa.text_sample(int(board_idx[rng.integers(len(board_idx))]))
    if mode == "card":
        return qa.text_sample(int(card_idx[rng.integers(len(card_idx))]))
    return qa.text_sample(int(rng.integers(len(qa))))
test = []
for p in sorted(glob.glob(test_dir + "/*.hdf5")):
    with h5py.File(p) as f:
        if f.attrs["source_task"] == "math":
            test.append((f["images/front"][0], list(zip(json.loads(f.attrs["questions"]), json.loads(f.attrs["answers"])))))
side = int(sys.argv[6]) if len(sys.argv) > 6 else 128  # the processor's max_pixels = side * side
model = ChatVLA2Model.from_preset("tiny", max_pixels=side * side); model.train()
opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
rng = np.random.default_rng(0)
def gen(img, q, n=8):
    return model.generate_reasoning({"front": img} if img is not None else {}, q, max_new_tokens=n).text
def evaluate():
    model.eval(); board = 0; card = 0; ncard = 0; arith = 0
    for img, pairs in test:
        board += gen(img, pairs[0][0]) == pairs[0][1]
        for q, a in pairs[2:]:
            if q.startswith("what number"):
                card += gen(img, q) == a; ncard += 1
        e = pairs[0][1]
        arith += gen(None, f"what is the answer to {e}?", 10) == f"{e} = {pairs[1][1]}"
    model.train(); return f"board {board}/{len(test)} card {card}/{ncard} arith {arith}/{len(test)}"
t0 = time.time()
for step in range(steps):
    samples = [ARITHMETIC[rng.integers(len(ARITHMETIC))] if rng.random() < 0.2 else qa_pick() for _ in range(16)]
    out = model(text_batch(model, samples))
    for g in opt.param_groups: g["lr"] = lr * min(1, (step + 1) / 50)
    opt.zero_grad(); out.loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    if step % 250 == 0 or step == steps - 1:
        print(step, f"{time.time()-t0:.0f}s lm {out.lm_loss.item():.3f}", evaluate(), flush=True)
