"""Inference speed: naive baseline (HF generate + DDPM loop) vs our runtime, sync and async.

Same as `chatvla2 bench`; prints a table and appends it to benchmarks/RESULTS.md.
    python benchmarks/inference_speed.py --preset tiny --device cpu --threads 2
    python benchmarks/inference_speed.py --preset paper --device cuda --reasoning-tokens 32
"""
import argparse
import sys

from chatvla2.policy.bench_commands import add_arguments, run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
