"""Reading probe for a trained model directory: on held-out QA files (`chatvla2 gen-data --task qa
--split heldout`), how many boards it reads exactly, how many card digits, and how many arithmetic
answers it completes (text only).

    .venv/bin/python scripts/experiments/probe_reading.py MODEL_DIR HELDOUT_QA_DIR
"""
import glob
import json
import sys

import h5py
import torch

from chatvla2.model.chatvla2 import ChatVLA2Model

torch.set_num_threads(2)
model_dir, test_dir = sys.argv[1], sys.argv[2]
model = ChatVLA2Model.from_pretrained(model_dir).eval()
paths = sorted(glob.glob(test_dir + "/*.hdf5"))
if not paths:
    sys.exit(f"probe_reading: error: no .hdf5 files in {test_dir}")


def generate(images, question, tokens=10):
    with torch.inference_mode():
        return model.generate_reasoning(images, question, max_new_tokens=tokens).text


board = card = cards = arithmetic = boards = 0
for path in paths:
    with h5py.File(path) as f:
        if f.attrs["source_task"] != "math":
            continue
        image = {"front": f["images/front"][0]}
        pairs = list(zip(json.loads(f.attrs["questions"]), json.loads(f.attrs["answers"])))
    boards += 1
    board += generate(image, pairs[0][0]) == pairs[0][1]
    for question, answer in pairs[2:]:
        if question.startswith("what number"):
            card += generate(image, question) == answer
            cards += 1
    equation = pairs[0][1]
    arithmetic += generate({}, f"what is the answer to {equation}?") == f"{equation} = {pairs[1][1]}"
print(f"boards read {board}/{boards}  card digits {card}/{cards}  arithmetic {arithmetic}/{boards}")
