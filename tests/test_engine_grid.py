"""Regression figures away from the default hardware: certified answers at the grid points of
bench/certify_grid.py (default_8core with one axis moved).

tests/data/resnet18_grid_certified.json holds every (point, ResNet-18 shape, objective, preset)
that `interactive` or `thorough` proved within 1 % of the optimum. Presets are budgets of work,
so the same inputs must give a certified answer again (thorough's whatever number of certifier
workers runs it), consistent with the stored one: neither answer's value below the other's
bound, and the value no worse than the stored one beyond the tolerance. Three fast interactive
cases run by default; the rest (thorough: 6-60 s each) behind `slow`.
"""

from __future__ import annotations

import json
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
    # The bound proves the value within the tolerance.
    assert result.lower_bound <= result.value
    assert result.value * (1 - DATA["tolerance"]) <= result.lower_bound * (1 + 1e-9)
    # Stronger bounds or searches may move either number, never past the other run's: no
    # mapping beats a proven bound, and no proven bound exceeds a mapping's cost.
    assert result.value >= entry["lower_bound"] * (1 - 1e-9)
    assert result.lower_bound <= entry["value"] * (1 + 1e-9)
    assert result.value <= entry["value"] * (1 + DATA["tolerance"]) * (1 + 1e-9)


def test_the_grid_file_holds_certified_answers_only() -> None:
    assert DATA["optima"], "no regression figures"
    for entry in DATA["optima"]:
        assert entry["status"] == "optimal"
        assert entry["lower_bound"] <= entry["value"]
        assert entry["value"] * (1 - DATA["tolerance"]) <= entry["lower_bound"] * (1 + 1e-9)
