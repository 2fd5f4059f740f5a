"""Shared fixtures. Paths resolve from this file, never from the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from miredo_core.config import load_hardware
from miredo_core.hardware import Hardware

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sample_hardware_dir(repo_root: Path) -> Path:
    return repo_root / "sample_configs" / "hardware"


@pytest.fixture(scope="session")
def tiny_hardware(sample_hardware_dir: Path) -> Hardware:
    """The 2-core, 4x4-macro test accelerator of sample_configs/hardware/tiny.yaml."""
    return load_hardware(sample_hardware_dir / "tiny.yaml")
