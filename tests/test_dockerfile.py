"""docker/Dockerfile cannot be built here (no Docker engine): lint it and check what it relies on."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "docker" / "Dockerfile"


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is missing from .venv: run scripts/setup.sh"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_uses_jazzy_and_the_one_requirements_list():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM ros:jazzy", text, re.MULTILINE)
    assert "COPY requirements.txt" in text and "colcon build" in text
    for path in re.findall(r"^COPY (\S+) ", text, re.MULTILINE):
        assert path == "." or (REPO / path).exists(), f"Dockerfile copies missing {path}"
