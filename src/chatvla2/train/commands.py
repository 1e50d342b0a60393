"""`chatvla2 train --stage N --config FILE`: one entry point for a CPU, a GPU or torchrun DDP.

    chatvla2 train --stage 1 --config config/train/tiny_stage1a_cotrain.yaml
    torchrun --nproc_per_node 8 -m chatvla2.cli train --stage 1 --config config/train/paper_stage1_fsdp.yaml
    chatvla2 train --stage 1 --config ... --resume auto          # continue from the latest checkpoint
    chatvla2 train --stage 2 --config ... --set optim.lr=1e-4    # dotted overrides, YAML values
    chatvla2 eval-table --episodes 20 --out docs/eval.md expert=expert random=random ours=models/chatvla2-tiny
    chatvla2 pretrain --config config/train/tiny_stage0a_reading.yaml --resume auto   # stage 0: the dense base
    chatvla2 train-curves --out models/chatvla2-tiny/training_curves.png runs/a/metrics.jsonl ...
"""
from __future__ import annotations


def add_run_arguments(parser, config_help: str) -> None:
    """What every training entry point takes: a config, resume, overrides, progress."""
    parser.add_argument("--config", required=True, help=config_help)
    parser.add_argument("--resume", default=None,
                        help="'auto' (latest checkpoint in out_dir, if any) or a checkpoint directory")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set steps=200 --set optim.lr=1e-4")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar (logs still written)")


def add_train_arguments(parser) -> None:
    add_run_arguments(parser, "training YAML (config/train/*.yaml)")
    parser.add_argument("--stage", type=int, choices=(1, 2), help="must match the config's stage when given")


def run_train(args) -> int:
    import logging

    from chatvla2.train.config import load_train_config, parse_override
    from chatvla2.train.trainer import train

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = dict(parse_override(text) for text in args.set)
    config = load_train_config(args.config, overrides)
    if args.stage is not None and args.stage != config.stage:
        raise SystemExit(f"--stage {args.stage} contradicts '{args.config}' (stage: {config.stage})")
    final = train(config, resume=args.resume, show_progress=not args.no_progress)
    print(f"final model: {final}")
    return 0


def add_pretrain_arguments(parser) -> None:
    add_run_arguments(parser, "stage-0 YAML (config/train/tiny_stage0a_reading.yaml)")


def run_pretrain(args) -> int:
    import logging

    from chatvla2.train.config import parse_override
    from chatvla2.train.pretrain import load_pretrain_config, pretrain

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_pretrain_config(args.config, dict(parse_override(text) for text in args.set))
    print(f"stage 0 stopped at: {pretrain(config, resume=args.resume, show_progress=not args.no_progress)}")
    return 0


def add_probe_arguments(parser) -> None:
    parser.add_argument("model", help="a dense base directory (models/qwen2vl-tiny-base, runs/.../final)")
    parser.add_argument("--samples", type=int, default=30, help="held-out samples per probe kind")


def run_probe_base(args) -> int:
    import torch

    from chatvla2.train.pretrain import probe_table

    torch.set_num_threads(1)
    print(probe_table(args.model, args.samples))
    return 0


def add_curves_arguments(parser) -> None:
    parser.add_argument("metrics", nargs="+", help="metrics.jsonl files, optionally NAME=PATH")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--title", default="")
    parser.add_argument("--keys", nargs="+", default=None,
                        help="metrics to plot (default: the losses, lr and samples/s), e.g. probe_tower_single")


def run_curves(args) -> int:
    from chatvla2.train.metrics import plot_curves

    runs = {}
    for item in args.metrics:
        name, _, path = item.rpartition("=")
        runs[name or path] = path
    keys = {} if args.keys is None else {"keys": tuple(args.keys)}
    print(plot_curves(runs, args.out, args.title, **keys))
    return 0


def add_eval_arguments(parser) -> None:
    from chatvla2.train.evaluate import add_arguments

    add_arguments(parser)


def run_eval_table(args) -> int:
    from chatvla2.train.evaluate import run

    return run(args)


COMMANDS = {
    "train": ("train the model (stage 1 co-training or stage 2 head-only)", add_train_arguments, run_train),
    "eval-table": ("evaluation table: reasoning correct, held-out and card-swap success, router entropy",
                   add_eval_arguments, run_eval_table),
    "pretrain": ("stage 0: pretrain the dense tiny Qwen2-VL base on procedural reading data",
                 add_pretrain_arguments, run_pretrain),
    "probe-base": ("held-out reading probe of a dense base: exact answers per question kind",
                   add_probe_arguments, run_probe_base),
    "train-curves": ("plot training curves from metrics.jsonl files", add_curves_arguments, run_curves),
}
