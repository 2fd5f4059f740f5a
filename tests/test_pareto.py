"""pareto_mask on hand-made points: dominance, ties, NaN rows, frames, and a brute-force check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miredo_core.pareto import DEFAULT_PARETO_COLUMNS, pareto_mask, resolve_columns


def brute_force_mask(values: np.ndarray) -> np.ndarray:
    """The definition, literally: no other valid row is <= everywhere and < somewhere."""
    valid = ~np.isnan(values).any(axis=1)
    mask = []
    for i, row in enumerate(values):
        dominated = any(
            valid[j] and np.all(other <= row) and np.any(other < row)
            for j, other in enumerate(values)
            if j != i
        )
        mask.append(bool(valid[i]) and not dominated)
    return np.array(mask, dtype=bool)


def test_two_objective_front_by_hand() -> None:
    # (latency, energy): A and C trade off, B is dominated by A, D by everything on the front.
    points = [[10, 5], [12, 6], [4, 9], [20, 20], [7, 7]]
    assert pareto_mask(points).tolist() == [True, False, True, False, True]


def test_identical_points_are_all_on_the_front() -> None:
    assert pareto_mask([[1, 2], [1, 2], [2, 1]]).tolist() == [True, True, True]


def test_identical_dominated_points_are_all_off_the_front() -> None:
    assert pareto_mask([[3, 3], [3, 3], [1, 1]]).tolist() == [False, False, True]


def test_equal_in_one_column_better_in_another_dominates() -> None:
    assert pareto_mask([[1, 5], [1, 4]]).tolist() == [False, True]
    assert pareto_mask([[2, 4], [1, 4]]).tolist() == [False, True]


def test_single_objective_keeps_every_minimum() -> None:
    assert pareto_mask([[3], [1], [2], [1]]).tolist() == [False, True, False, True]


def test_nan_rows_are_never_on_the_front_and_dominate_nothing() -> None:
    points = [[math.nan, 0.0], [5.0, 5.0], [0.0, math.nan]]
    assert pareto_mask(points).tolist() == [False, True, False]
    assert pareto_mask([[math.nan, 1.0]]).tolist() == [False]


def test_infinity_is_an_ordinary_worst_value() -> None:
    assert pareto_mask([[math.inf, 1], [1, math.inf], [2, 2], [math.inf, 3]]).tolist() == [
        True,
        True,
        True,
        False,
    ]


def test_empty_input_gives_an_empty_mask() -> None:
    assert pareto_mask(np.zeros((0, 3))).shape == (0,)


def test_three_columns_on_a_frame_with_short_names() -> None:
    frame = pd.DataFrame(
        {
            "latency_cycles": [100.0, 200.0, 100.0, 300.0],
            "energy_pj": [50.0, 40.0, 50.0, 60.0],
            "area_mm2": [2.0, 1.0, 1.5, 1.0],
            "edp_pj_cycles": [5000.0, 8000.0, 5000.0, 18000.0],
        },
        index=[10, 11, 12, 13],
    )
    # Row 12 beats row 10 on area and ties the rest; row 13 is beaten by row 11 everywhere.
    assert pareto_mask(frame, ["latency", "energy", "area"]).tolist() == [False, True, True, False]
    assert pareto_mask(frame, DEFAULT_PARETO_COLUMNS).tolist() == [False, True, True, False]
    # EDP alone: both 5000 rows tie for the minimum.
    assert pareto_mask(frame, ["edp"]).tolist() == [True, False, True, False]


def test_edp_beside_latency_and_energy_changes_nothing() -> None:
    rng = np.random.default_rng(7)
    latency, energy = rng.integers(1, 6, 40).astype(float), rng.integers(1, 6, 40).astype(float)
    frame = pd.DataFrame(
        {"latency_cycles": latency, "energy_pj": energy, "edp_pj_cycles": latency * energy}
    )
    assert np.array_equal(
        pareto_mask(frame, ["latency", "energy"]), pareto_mask(frame, ["latency", "energy", "edp"])
    )


@given(
    st.lists(
        st.lists(
            st.one_of(st.integers(0, 4).map(float), st.just(math.nan)), min_size=3, max_size=3
        ),
        max_size=40,
    )
)
def test_matches_the_definition_on_random_points_with_many_ties(rows: list[list[float]]) -> None:
    values = np.array(rows, dtype=float).reshape(len(rows), 3)
    assert pareto_mask(values).tolist() == brute_force_mask(values).tolist()


def test_input_errors_are_explained() -> None:
    with pytest.raises(ValueError, match="2-D"):
        pareto_mask([1.0, 2.0])
    frame = pd.DataFrame({"latency_cycles": [1.0]})
    with pytest.raises(ValueError, match="give the columns"):
        pareto_mask(frame)
    with pytest.raises(ValueError, match="no column energy_pj"):
        pareto_mask(frame, ["latency", "energy"])
    with pytest.raises(ValueError, match="DataFrame only"):
        pareto_mask([[1.0]], ["latency"])
    with pytest.raises(ValueError, match="repeat"):
        resolve_columns(["latency", "latency_cycles"])
    with pytest.raises(ValueError, match="at least one"):
        resolve_columns([])
