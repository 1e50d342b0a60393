"""The docs check: every repository path a manual names exists, every `chatvla2 <subcommand>` it
shows is a real subcommand whose --help exits 0, and the shipped model's table in README.md is
the model card's table (models/chatvla2-tiny/README.md), not a copy that drifted.

The manuals are README.md, docs/*.md and the model cards; CHANGELOG.md and benchmarks/ results
are history and may name what no longer exists."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatvla2.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
MANUALS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "models").glob("*/README.md")])
TOP_FOLDERS = ("config", "docs", "scripts", "launch", "models", "benchmarks", "tests", "src", "docker")
PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP_FOLDERS)})/[\w.+-]+(?:/[\w.+-]+)*/?)")
# `chatvla2 eval`, not `ros2 launch chatvla2 franka.launch.xml` or `ros2 run chatvla2 inference_node`.
SUBCOMMAND = re.compile(r"(?<![\w/.-])(?<!launch )(?<!run )chatvla2 ([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w.])")
TABLE = re.compile(r"<!-- shipped-model-table:begin -->\n(.*?)<!-- shipped-model-table:end -->", re.S)


def missing_paths(text: str) -> list[str]:
    """Repository paths named in `text` that do not exist (globs and placeholders skipped)."""
    missing = []
    for match in PATH.finditer(text):
        path = match.group(1).rstrip(".")
        if any(mark in text[match.end():match.end() + 1] for mark in "*<{") or path.endswith(("-", "_")):
            continue  # a pattern such as config/robots/*.yaml or episode_<n>.hdf5
        if not (REPO / path).exists():
            missing.append(path)
    return missing


def subcommands() -> set[str]:
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    from chatvla2.cli import discover_commands

    return set(discover_commands())


@pytest.mark.parametrize("doc", MANUALS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_path_a_manual_names_exists(doc):
    assert missing_paths(doc.read_text()) == [], f"{doc.relative_to(REPO)} names files that do not exist"


def test_the_check_fails_on_a_missing_file_and_passes_patterns():
    text = ("Train with `config/train/tiny_stage1a_cotrain.yaml`, then config/train/paper_stage1.yaml; "
            "robots are config/robots/*.yaml.")
    assert missing_paths(text) == ["config/train/paper_stage1.yaml"]


def test_every_subcommand_a_manual_shows_parses(capsys):
    known = subcommands()
    shown = {name for doc in MANUALS for name in SUBCOMMAND.findall(doc.read_text())}
    assert shown, "the manuals show no chatvla2 command"
    assert shown - known == set(), f"subcommands the docs show that do not exist: {sorted(shown - known)}"
    for name in sorted(shown):
        with pytest.raises(SystemExit) as exit_info:
            cli_main([name, "--help"])
        assert exit_info.value.code == 0, name
    capsys.readouterr()


def test_the_readme_shows_the_model_cards_table():
    card = TABLE.search((REPO / "models" / "chatvla2-tiny" / "README.md").read_text())
    readme = TABLE.search((REPO / "README.md").read_text())
    assert card and readme, "the shipped-model-table markers are missing"
    assert readme.group(1) == card.group(1), (
        "README.md's shipped-model table differs from models/chatvla2-tiny/README.md's: copy the card's")
