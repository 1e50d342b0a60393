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


def test_the_documented_run_lines_use_only_declared_launch_arguments():
    from launch_xml import plan, quoted_launch_arguments

    lines = re.findall(r"ros2 launch chatvla2 (\S+\.launch\.xml)(.*)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert lines, "the Dockerfile documents no ros2 launch line"
    for launch_file, rest in lines:
        plan(REPO / "launch" / launch_file, quoted_launch_arguments(rest))  # raises on an undeclared one


def test_the_run_line_check_catches_an_undeclared_argument():
    import pytest

    from launch_xml import plan

    with pytest.raises(ValueError, match="declares no launch argument"):
        plan(REPO / "launch" / "franka.launch.xml", {"polcy": "/models/x"})
