"""Fuzzing the input edges: mutated hardware YAML and small generated (or corrupted) ONNX models.

Every outcome must be a result or a clear library error (ConfigError, WorkloadError), never
another exception. The default run tries a few examples in process; the `slow` variants try
many more and run the CLI on each input as a subprocess with a timeout, so a hang fails the
test as surely as a traceback does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from miredo_core.config import ConfigError, hardware_to_dict, load_hardware, parse_hardware
from miredo_core.hardware import Hardware
from miredo_core.network import map_network
from miredo_core.onnx_import import import_onnx
from miredo_core.results import NetworkResult
from miredo_core.workload import Layer, Network, WorkloadError

REPO_ROOT = Path(__file__).resolve().parent.parent
TINY = REPO_ROOT / "sample_configs" / "hardware" / "tiny.yaml"
CLI_TIMEOUT_S = 120
DELETE = object()
SMALL_NETWORK = Network("fuzz", (Layer("a", P=4, Q=4, C=8, K=4), Layer("b", R=3, P=2, C=4, K=2)))

_BASE = hardware_to_dict(load_hardware(TINY))
_FIELDS: list[tuple[str, ...]] = (
    [("cores",), ("name",), ("extra_key",)]
    + [("levels", level, key) for level, values in _BASE["hardware"]["levels"].items()
       for key in values]
    + [("macro", key) for key in _BASE["hardware"]["macro"]]
    + [("spatial_dims", axis) for axis in _BASE["hardware"]["spatial_dims"]]
)  # fmt: skip

_VALUES = st.one_of(
    st.integers(min_value=-4, max_value=4096),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.booleans(),
    st.none(),
    st.lists(st.sampled_from(["P", "Q", "K", "C", "R", "X", 3]), max_size=4),
    st.just(DELETE),
)
_MUTATIONS = st.lists(st.tuples(st.sampled_from(_FIELDS), _VALUES), min_size=1, max_size=3)


def mutated_hardware_text(mutations: list[tuple[tuple[str, ...], Any]]) -> str:
    document = yaml.safe_load(yaml.safe_dump(_BASE))
    for path, value in mutations:
        parent = document["hardware"]
        for key in path[:-1]:
            parent = (
                parent[key] if isinstance(parent.get(key), dict) else parent.setdefault(key, {})
            )
        if value is DELETE:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    return yaml.safe_dump(document, sort_keys=False)


def hardware_outcome(text: str) -> Hardware | NetworkResult | ConfigError:
    """What the library makes of a hardware text: an error, or the mapped small network."""
    try:
        hardware = parse_hardware(text, "fuzz.yaml")
    except ConfigError as error:
        assert error.items and str(error)
        return error
    return map_network(hardware, SMALL_NETWORK, mapper="ws")


_FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@settings(_FUZZ, max_examples=15)
@given(_MUTATIONS)
def test_mutated_hardware_gives_a_result_or_a_config_error(mutations) -> None:
    outcome = hardware_outcome(mutated_hardware_text(mutations))
    assert isinstance(outcome, ConfigError | NetworkResult)


# ---------------------------------------------------------------- ONNX
_DIMS = st.lists(
    st.one_of(st.integers(min_value=-2, max_value=12), st.just("batch")), min_size=1, max_size=4
)
_INTS = st.lists(st.integers(min_value=-1, max_value=4), min_size=1, max_size=4)
_OPS = st.sampled_from(["Conv", "ConvTranspose", "Gemm", "MatMul", "Relu", "Einsum"])


@st.composite
def onnx_models(draw) -> bytes:
    """One node of a random operator on random shapes and attributes, maybe corrupted."""
    op = draw(_OPS)
    weight_dims = draw(st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=4))
    attributes = {}
    if op in ("Conv", "ConvTranspose"):
        for name in draw(st.sets(st.sampled_from(["strides", "pads", "dilations"]))):
            attributes[name] = draw(_INTS)
        if draw(st.booleans()):
            attributes["group"] = draw(st.integers(min_value=-1, max_value=4))
    if op == "Gemm" and draw(st.booleans()):
        attributes["transB"] = draw(st.integers(min_value=0, max_value=1))
    node = helper.make_node(op, ["x", "w"], ["y"], name="node", **attributes)
    count = 1
    for size in weight_dims:
        count *= size
    graph = helper.make_graph(
        [node],
        "fuzz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, draw(_DIMS))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("w", TensorProto.FLOAT, weight_dims, [0.0] * count)],
    )
    data = bytearray(helper.make_model(graph).SerializeToString())
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        position = draw(st.integers(min_value=0, max_value=len(data) - 1))
        data[position] = draw(st.integers(min_value=0, max_value=255))
    return bytes(data)


def onnx_outcome(model: bytes) -> NetworkResult | WorkloadError:
    try:
        network = import_onnx(model, name="fuzz")
    except WorkloadError as error:
        assert str(error)
        return error
    return map_network(load_hardware(TINY), network, mapper="ws")


@settings(_FUZZ, max_examples=15)
@given(onnx_models())
def test_generated_onnx_gives_a_result_or_a_workload_error(model: bytes) -> None:
    assert isinstance(onnx_outcome(model), NetworkResult | WorkloadError)


# ---------------------------------------------------------------- slow: the CLI, bounded
def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(
        [sys.executable, "-m", "miredo_core.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    assert "Traceback" not in completed.stdout + completed.stderr
    assert completed.returncode in (0, 2, 3), completed.stderr
    return completed


@pytest.mark.slow
@settings(_FUZZ, max_examples=20)
@given(_MUTATIONS)
def test_cli_on_mutated_hardware_ends_with_a_documented_code(mutations) -> None:
    with tempfile.TemporaryDirectory() as folder:
        hardware = Path(folder) / "hardware.yaml"
        hardware.write_text(mutated_hardware_text(mutations), encoding="utf-8")
        run_cli("map", "--hardware", str(hardware), "--workload", "resnet18")


@pytest.mark.slow
@settings(_FUZZ, max_examples=20)
@given(onnx_models())
def test_cli_on_generated_onnx_ends_with_a_documented_code(model: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        path.write_bytes(model)
        run_cli("map", "--hardware", str(TINY), "--workload", str(path))


@pytest.mark.slow
@settings(_FUZZ, max_examples=300)
@given(_MUTATIONS)
def test_many_mutated_hardware_files_in_process(mutations) -> None:
    outcome = hardware_outcome(mutated_hardware_text(mutations))
    assert isinstance(outcome, ConfigError | NetworkResult)


@pytest.mark.slow
@settings(_FUZZ, max_examples=300)
@given(onnx_models())
def test_many_generated_onnx_models_in_process(model: bytes) -> None:
    assert isinstance(onnx_outcome(model), NetworkResult | WorkloadError)
