"""Where the package's data folders (config/, models/, launch/) live.

In a source checkout or editable install they sit at the repository root; after `colcon build`
they are installed under share/chatvla2. CHATVLA2_SHARE overrides both.
"""
from __future__ import annotations

import os
from pathlib import Path


def share_dir() -> Path:
    override = os.environ.get("CHATVLA2_SHARE")
    if override:
        return Path(override)
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "package.xml").is_file():
        return checkout
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:
        return checkout
    return Path(get_package_share_directory("chatvla2"))


def config_dir() -> Path:
    return share_dir() / "config"


def models_dir() -> Path:
    return share_dir() / "models"


def resolve_data_path(spec: str | Path) -> Path:
    """A path as given if it exists; else, when relative, the same path under the share folder
    (so `models/chatvla2-tiny` works from any directory and after `colcon build`)."""
    path = Path(spec).expanduser()
    if path.exists() or path.is_absolute():
        return path
    shared = share_dir() / path
    return shared if shared.exists() else path
