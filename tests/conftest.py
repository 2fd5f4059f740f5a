"""Shared fixtures. Paths resolve from this file, never from the working directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from miredo_core.config import load_hardware
from miredo_core.hardware import Hardware
from miredo_core.store import STORE_ENV

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def result_store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's default result store is a file of its own tmp directory: `$MIREDO_STORE` is
    what `store.default_store_path()`, the CLI and the dashboard read, so no test writes into
    the user's cache directory and no test sees another's answers."""
    path = tmp_path / "results.sqlite3"
    monkeypatch.setenv(STORE_ENV, str(path))
    return path


@pytest.fixture(autouse=True)
def main_module_restored():
    """Streamlit's AppTest runs a page as `__main__` and leaves it in `sys.modules`; a spawn
    worker started later in this process would then run that page script as its main module
    and die at start-up. Each test gets the process's own `__main__` back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


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
