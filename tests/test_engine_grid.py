"""Regression figures away from the default hardware: certified answers at the grid points of
bench/certify_grid.py (default_8core with one axis moved).

tests/data/resnet18_grid_certified.json holds every (point, ResNet-18 shape, objective, preset)
that `interactive` or `thorough` proved within 1 % of the optimum. Presets are budgets of work,
so the same inputs must give the same value, the same status and a bound that still proves it
(thorough's also whatever number of certifier workers runs it). Three fast interactive cases run
by default; the rest (thorough: 6-60 s each) behind `slow`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from miredo_core import SolveOptions, apply_variant, get_network, load_hardware, solve_layer

ROOT = Path(__file__).resolve().parents[1]
DATA = json.loads((ROOT / "tests" / "data" / "resnet18_grid_certified.json").read_text())
HARDWARE = ROOT / "sample_configs" / "hardware" / "default_8core.yaml"
#: (point, layer, objective) whose interactive answer takes about two seconds.
FAST = {
    ("compartment_depth=1", "Conv_17", "latency"),
    ("cores=16", "Conv_17", "edp"),
    ("ping_pong=on", "fc", "edp"),
}


def _case_id(entry: dict) -> str:
    return f"{entry['point']}-{entry['layer']}-{entry['objective']}-{entry['preset']}"


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(entry, id=_case_id(entry), marks=()
                     if entry["preset"] == "interactive"
                     and (entry["point"], entry["layer"], entry["objective"]) in FAST
                     else (pytest.mark.slow,))
        for entry in DATA["optima"]
    ],
)  # fmt: skip
def test_a_certified_answer_at_a_grid_point_reproduces(entry: dict) -> None:
    hw = load_hardware(HARDWARE)
    if entry["axis"] is not None:
        hw = apply_variant(hw, entry["axis"], entry["value_of_axis"])
    layer = next(layer for layer in get_network("resnet18").layers if layer.name == entry["layer"])
    options = SolveOptions(preset=entry["preset"], gap_tolerance=DATA["tolerance"])
    result = solve_layer(hw, layer, entry["objective"], options)
    assert result.status == "optimal"
    assert math.isclose(result.value, entry["value"], rel_tol=1e-9)
    # The bound proves the value within the tolerance, and no stored answer beats the bound.
    assert result.lower_bound <= result.value
    assert result.value * (1 - DATA["tolerance"]) <= result.lower_bound * (1 + 1e-9)
    assert math.isclose(result.lower_bound, entry["lower_bound"], rel_tol=1e-9)


def test_the_grid_file_holds_certified_answers_only() -> None:
    assert DATA["optima"], "no regression figures"
    for entry in DATA["optima"]:
        assert entry["status"] == "optimal"
        assert entry["lower_bound"] <= entry["value"]
        assert entry["value"] * (1 - DATA["tolerance"]) <= entry["lower_bound"] * (1 + 1e-9)
