"""Built-in networks, built in code with the exact published dims, and workload name resolution.

`cnn` builds the CNNs (ResNet-18/50, VGG-16, VGG-19-BN, AlexNet, MobileNetV2, EfficientNet-B0)
at 224x224, `transformer` the transformer blocks (BERT-Base, GPT-2 Medium and TinyLlama at
prefill, and decode steps parametrised by batch and context), `registry` the table of names
with each network's family, sample hardware template and parameters. Batch is 1 everywhere
except in the decode steps' `batch`. No dim is padded or rounded.
"""

from __future__ import annotations

import pathlib

from miredo_core.config import load_workload_yaml
from miredo_core.workload import Network, WorkloadError, matmul_layer
from miredo_core.zoo.registry import (
    CNN,
    NETWORK_NAMES,
    REGISTRY,
    TRANSFORMER,
    NetworkEntry,
    get_network,
    is_network_spec,
    network_entry,
    parse_network_spec,
)

__all__ = [
    "CNN",
    "NETWORK_NAMES",
    "REGISTRY",
    "TRANSFORMER",
    "NetworkEntry",
    "get_network",
    "list_networks",
    "load_workload",
    "matmul_layer",
    "network_entry",
    "parse_network_spec",
]


def list_networks(family: str | None = None) -> tuple[str, ...]:
    """The built-in network names, optionally of one family (CNN or TRANSFORMER)."""
    if family is not None and family not in (CNN, TRANSFORMER):
        raise WorkloadError(f"unknown network family {family!r}; choose {CNN} or {TRANSFORMER}")
    return tuple(name for name, entry in REGISTRY.items() if family in (None, entry.family))


_ONNX_SUFFIXES = frozenset({".onnx"})
_YAML_SUFFIXES = frozenset({".yaml", ".yml"})


def load_workload(spec: str | pathlib.Path) -> Network:
    """A network from a built-in name (with parameters: `tinyllama_decode[batch=8]`), an ONNX
    file or a workload YAML file.

    The one entry point the CLI and the UI use, so every way of naming a workload gives the
    same errors. A built-in name wins over a file of the same name in the working directory.
    """
    if isinstance(spec, str) and is_network_spec(spec):
        return get_network(spec)
    path = pathlib.Path(spec)
    suffix = path.suffix.lower()
    if suffix not in _ONNX_SUFFIXES | _YAML_SUFFIXES:
        raise WorkloadError(
            f"unknown workload {str(spec)!r}: give a built-in network "
            f"({', '.join(NETWORK_NAMES)}), a .onnx file or a .yaml/.yml file"
        )
    if not path.is_file():
        raise WorkloadError(f"workload file not found: {path}")
    if suffix in _ONNX_SUFFIXES:
        # Imported here, not at the top: `onnx` costs about two CPU seconds, which every CLI
        # run and dashboard worker would otherwise pay without reading a model.
        from miredo_core.onnx_import import import_onnx

        return import_onnx(path)
    return load_workload_yaml(path)
