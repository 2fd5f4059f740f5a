"""ResultStore: round trips through the cost model, keys, schema checks, concurrent writers."""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import pickle
import sqlite3
import time
from pathlib import Path

import pytest

from miredo_core.hardware import Hardware
from miredo_core.mappers import MAPPERS, register_mapper
from miredo_core.mapping import Mapping
from miredo_core.network import map_layer
from miredo_core.search.engine import SolveOptions
from miredo_core.store import (
    MEMORY,
    SCHEMA_VERSION,
    Answer,
    ProblemKey,
    ResultStore,
    StoreError,
    default_store_path,
    hardware_hash,
    problem_key,
)
from miredo_core.variants import apply_variant
from miredo_core.workload import Layer

POINTWISE = Layer("pointwise", P=4, Q=4, C=8, K=4)
OPTIONS = SolveOptions(preset="interactive")


@pytest.fixture
def store(tmp_path: Path):
    with ResultStore(tmp_path / "results.sqlite3") as opened:
        yield opened


def stored_and_read(store: ResultStore, hw: Hardware, layer: Layer, mapper: str, objective: str):
    result = map_layer(hw, layer, objective, mapper, OPTIONS)
    key = problem_key(hw, layer, objective, mapper, OPTIONS)
    store.put(key, Answer.from_result(result))
    return result, store.lookup(hw, layer, objective, mapper, OPTIONS)


def test_round_trip_gives_the_same_row(store: ResultStore, tiny_hardware: Hardware) -> None:
    result, read = stored_and_read(store, tiny_hardware, POINTWISE, "ws", "latency")
    assert read is not None
    assert read.mapping == result.mapping
    assert read.cost == result.cost
    assert read.row() == result.row()


def test_mip_round_trip_keeps_status_and_search_figures(
    store: ResultStore, tiny_hardware: Hardware
) -> None:
    result, read = stored_and_read(store, tiny_hardware, POINTWISE, "mip", "edp")
    assert read.status == result.status
    assert read.mapping == result.mapping
    assert read.cost == result.cost
    for name in ("predicted_latency_cycles", "predicted_energy_pj", "lower_bound", "gap"):
        assert read.row()[name] == pytest.approx(result.row()[name], nan_ok=True)


def test_infeasible_answers_are_stored_with_their_reason(
    store: ResultStore, tiny_hardware: Hardware
) -> None:
    # An input register narrower than one input element admits no mapping at all.
    register = dataclasses.replace(tiny_hardware.input_register, size_bits=1)
    hw = dataclasses.replace(tiny_hardware, input_register=register)
    result, read = stored_and_read(store, hw, POINTWISE, "ws", "latency")
    assert result.status == "infeasible"
    assert read.status == "infeasible" and read.cost is None
    assert read.reason == result.reason != ""


def test_absent_problems_read_as_none(store: ResultStore, tiny_hardware: Hardware) -> None:
    assert store.lookup(tiny_hardware, POINTWISE, "latency", "ws", OPTIONS) is None
    assert len(store) == 0


def test_a_stored_mapping_the_model_rejects_reads_as_absent(
    store: ResultStore, tiny_hardware: Hardware
) -> None:
    bogus = Mapping.build({}, [("K", 3)], {"I": ["dram"], "W": ["dram"], "O": ["dram"]})
    key = problem_key(tiny_hardware, POINTWISE, "latency", "ws", OPTIONS)
    store.put(key, Answer("evaluated", bogus.to_json()))
    assert store.lookup(tiny_hardware, POINTWISE, "latency", "ws", OPTIONS) is None


def test_the_first_answer_for_a_key_is_kept(store: ResultStore, tiny_hardware: Hardware) -> None:
    key = problem_key(tiny_hardware, POINTWISE, "latency", "ws", OPTIONS)
    store.put(key, Answer("infeasible", None, reason="first"))
    store.put(key, Answer("infeasible", None, reason="second"))
    assert store.get(key).reason == "first"
    assert len(store) == 1


def test_answers_persist_across_reopening_and_pickling(
    tmp_path: Path, tiny_hardware: Hardware
) -> None:
    path = tmp_path / "nested" / "dir" / "results.sqlite3"
    key = problem_key(tiny_hardware, POINTWISE, "latency", "ws", OPTIONS)
    with ResultStore(path) as store:
        store.put(key, Answer("infeasible", None, reason="kept"))
        copy = pickle.loads(pickle.dumps(store))
    assert copy.get(key).reason == "kept"
    copy.close()
    with ResultStore(path) as reopened:
        assert reopened.get(key).reason == "kept"
        reopened.clear()
        assert len(reopened) == 0


def test_a_memory_store_persists_nothing(tiny_hardware: Hardware) -> None:
    key = problem_key(tiny_hardware, POINTWISE, "latency", "ws", OPTIONS)
    with ResultStore(MEMORY) as store:
        store.put(key, Answer("infeasible", None))
        assert len(store) == 1
    with ResultStore(MEMORY) as other:
        assert len(other) == 0


# ------------------------------------------------------------------ keys
def test_hardware_hash_ignores_name_and_description(tiny_hardware: Hardware) -> None:
    renamed = dataclasses.replace(tiny_hardware, name="other", description="same physics")
    assert hardware_hash(renamed) == hardware_hash(tiny_hardware)
    # A variant that sets a value the base already has is the same hardware.
    assert hardware_hash(apply_variant(tiny_hardware, "cores", 2)) == hardware_hash(tiny_hardware)
    assert hardware_hash(apply_variant(tiny_hardware, "cores", 4)) != hardware_hash(tiny_hardware)
    assert hardware_hash(apply_variant(tiny_hardware, "ping_pong", True)) != hardware_hash(
        tiny_hardware
    )


def test_key_holds_what_changes_the_answer_and_nothing_else(tiny_hardware: Hardware) -> None:
    def digest(layer=POINTWISE, objective="edp", mapper="mip", options=OPTIONS) -> str:
        return problem_key(tiny_hardware, layer, objective, mapper, options).digest

    base = digest()
    assert digest(layer=dataclasses.replace(POINTWISE, name="renamed", kind="fc")) == base
    assert digest(options=dataclasses.replace(OPTIONS, threads=2)) == base
    assert digest(layer=dataclasses.replace(POINTWISE, K=8)) != base
    assert digest(objective="latency") != base
    assert digest(mapper="ws") != base
    for change in ({"preset": "balanced"}, {"time_limit_s": 3.0}, {"solver": "cbc"},
                   {"seed": 1}, {"gap_tolerance": 0.05}):  # fmt: skip
        assert digest(options=dataclasses.replace(OPTIONS, **change)) != base, change
    # The weight-stationary rule reads neither the objective nor any option.
    ws = digest(mapper="ws")
    assert digest(mapper="ws", objective="latency") == ws
    assert digest(mapper="ws", options=SolveOptions(preset="thorough", seed=5)) == ws
    # Random search reads the seed only.
    assert digest(mapper="random", options=SolveOptions(preset="thorough")) == digest(
        mapper="random"
    )
    assert digest(mapper="random", options=SolveOptions(seed=3)) != digest(mapper="random")
    assert digest(options=dataclasses.replace(OPTIONS, workers=3)) == base


def test_a_budget_field_added_later_keys_only_the_budgets_that_use_it(
    tiny_hardware: Hardware, monkeypatch
) -> None:
    """Probes (a later budget field) are off in interactive and thorough: their keys are the ones
    their answers were stored under before probes existed (the plain dataclass fields without
    them); balanced probes, so its key changes with the probe budget."""
    from miredo_core.search import presets

    def digest(preset: str) -> str:
        return problem_key(tiny_hardware, POINTWISE, "edp", "mip",
                           SolveOptions(preset=preset)).digest  # fmt: skip

    for name in ("interactive", "thorough"):
        budget = presets.PRESETS[name]
        old = dataclasses.asdict(budget)
        node = old
        while node is not None:  # the budget as stored before probes: no probe fields at all
            for field_name in presets.LATER_FIELDS:
                node.pop(field_name)
            node = node["base"]
        assert presets.budget_key(budget) == old
    balanced = digest("balanced")
    probing = dataclasses.replace(presets.PRESETS["balanced"], probe_nodes=1)
    monkeypatch.setitem(presets.PRESETS, "balanced", probing)
    assert digest("balanced") != balanced
    monkeypatch.setitem(presets.PRESETS, "balanced", dataclasses.replace(
        presets.PRESETS["balanced"], probe_gaps=(), probe_nodes=0))  # fmt: skip
    assert presets.budget_key(presets.PRESETS["balanced"]) == presets.budget_key(
        presets.PRESETS["thorough"].base
    )


def test_a_registered_mapper_is_keyed_on_the_options_it_declares(tiny_hardware: Hardware) -> None:
    def digest(mapper: str, objective="edp", **change) -> str:
        options = dataclasses.replace(OPTIONS, **change)
        return problem_key(tiny_hardware, POINTWISE, objective, mapper, options).digest

    try:
        register_mapper("seeded_blind", MAPPERS["random"].function, option_fields=("seed",),
                        objective_blind=True)  # fmt: skip
        register_mapper("undeclared", MAPPERS["random"].function)
        base = digest("seeded_blind")
        assert digest("seeded_blind", objective="latency", preset="thorough") == base
        assert digest("seeded_blind", seed=7) != base
        assert not MAPPERS["seeded_blind"].takes_options
        # A mapper that declares nothing is keyed on every option, speed-only ones included.
        assert digest("undeclared", threads=2) != digest("undeclared")
        assert digest("undeclared", objective="latency") != digest("undeclared")
        assert MAPPERS["undeclared"].takes_options
    finally:
        MAPPERS.pop("seeded_blind", None)
        MAPPERS.pop("undeclared", None)


# ------------------------------------------------------------------ file-level checks
def test_store_runs_in_wal_mode_with_the_schema_version(store: ResultStore) -> None:
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    ResultStore(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        ResultStore(path)


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreError, match="not a miredo result store .its tables: notes"):
        ResultStore(path)
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [
        ("notes",)
    ]


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    path.write_text("definitely not SQLite " * 100)
    with pytest.raises(StoreError, match="not a usable result store .not an SQLite database"):
        ResultStore(path)


def test_an_unusable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open"):
        ResultStore(blocker / "results.sqlite3")


def test_default_path_honours_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MIREDO_STORE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if default_store_path().is_relative_to(tmp_path):  # Linux and other XDG platforms
        assert default_store_path() == tmp_path / "cache" / "miredo" / "results.sqlite3"
    monkeypatch.setenv("MIREDO_STORE", str(tmp_path / "chosen.sqlite3"))
    assert default_store_path() == tmp_path / "chosen.sqlite3"


# ------------------------------------------------------------------ concurrent writers
WRITES_PER_PROCESS = 1000


def _write_many(path: str, worker: int, barrier, shared_keys: int) -> tuple[float, float]:
    """Once both writers are ready, open the (not yet created) store and write one answer per
    transaction: `shared_keys` keys every writer writes, then keys of its own. Returns the
    time window of the writes."""
    barrier.wait()
    with ResultStore(path) as store:
        barrier.wait()  # both stores are open: start writing together
        begin = time.monotonic()
        for index in range(WRITES_PER_PROCESS):
            key = ("mine", worker, index) if index >= shared_keys else ("shared", index)
            store.put(_fake_key(key), Answer("infeasible", None, reason=f"{worker}:{index}"))
        return begin, time.monotonic()


def _fake_key(parts: tuple) -> ProblemKey:
    return ProblemKey(str(parts), "[]", "edp", "test", "{}")


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "results.sqlite3")  # created by the racing writers themselves
    context = multiprocessing.get_context("spawn")
    shared = 20
    with context.Manager() as manager, context.Pool(2) as pool:
        barrier = manager.Barrier(2)
        pending = [pool.apply_async(_write_many, (path, w, barrier, shared)) for w in (0, 1)]
        (begin0, end0), (begin1, end1) = (p.get(timeout=120) for p in pending)
    assert begin0 < end1 and begin1 < end0, "the writers did not overlap"
    with ResultStore(path) as store:
        assert len(store) == 2 * WRITES_PER_PROCESS - shared
        assert all(
            store.get(_fake_key(("mine", w, i))) is not None
            for w in (0, 1)
            for i in range(shared, WRITES_PER_PROCESS)
        )
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_search_figures_that_are_nan_read_back_as_nan(
    store: ResultStore, tiny_hardware: Hardware
) -> None:
    key = problem_key(tiny_hardware, POINTWISE, "latency", "ws", OPTIONS)
    store.put(key, Answer("infeasible", None, search={"gap": math.nan, "lower_bound": 3.0}))
    assert store.get(key).search == {"lower_bound": 3.0}
