"""`colcon build` of the package from the project's environment installs what launch files need."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration


def test_colcon_build_installs_nodes_launch_and_config(tmp_path):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(BIN / "colcon"), "build", "--base-paths", str(REPO), "--build-base", str(tmp_path / "build"),
         "--install-base", str(tmp_path / "install")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    prefix = tmp_path / "install" / "chatvla2"
    for executable in ("chatvla2", "camera_node", "inference_node", "arm_controller_node", "sim_arm_node"):
        assert os.access(prefix / "lib" / "chatvla2" / executable, os.X_OK), executable
    share = prefix / "share" / "chatvla2"
    assert (share / "launch" / "sim.launch.xml").is_file()
    assert (share / "config" / "sim.yaml").is_file()
    assert (share / "config" / "robots" / "franka_fr3.yaml").is_file()
    assert (share / "config" / "sim_model.yaml").is_file()
    # the shipped model travels with the package, so `policy: models/chatvla2-tiny` resolves anywhere
    assert (share / "models" / "chatvla2-tiny" / "model.safetensors").is_file()
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "chatvla2").is_file()
    shutil.rmtree(tmp_path / "build")
