"""`chatvla2 model-info`: parameter and memory report of a model preset (meta device, no memory)."""
from __future__ import annotations

import argparse


def add_model_info_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=("tiny", "paper"), default="paper", help="model preset")
    parser.add_argument("--moe", choices=("dynamic", "static", "shared", "dense"), default=None,
                        help="override the preset's MoE kind (ablations)")


def run_model_info(args: argparse.Namespace) -> int:
    from chatvla2.model.config import preset
    from chatvla2.model.parameters import format_report

    config = preset(args.preset)
    if args.moe is not None:
        config.moe.kind = args.moe
    print(format_report(config))
    return 0


COMMANDS = {
    "model-info": ("print total and active parameters per component of a model preset",
                   add_model_info_arguments, run_model_info),
}
