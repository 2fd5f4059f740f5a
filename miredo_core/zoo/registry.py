"""The table of built-in networks and the resolution of a network name with parameters.

A parametrised network (the decode steps) is named with its parameters in brackets, the way a
hardware variant is (`tinyllama_decode[batch=8,context=2048]`): that text is what the CLI, the
dashboard and result tables carry, and `get_network` accepts it back. A network built with its
default parameters keeps the plain name.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from miredo_core.workload import Network, WorkloadError
from miredo_core.zoo import cnn, transformer

CNN = "cnn"
TRANSFORMER = "transformer"


@dataclass(frozen=True)
class NetworkEntry:
    """One built-in network: how to build it and what it is for."""

    name: str
    build: Callable[..., Network]
    family: str
    """CNN or TRANSFORMER."""
    template: str
    """The sample hardware (sample_configs/hardware/<template>.yaml) the paper maps it on."""
    parameters: dict[str, int] = field(default_factory=dict)
    """Parameter name -> default value (integers); empty for a fixed network."""


def _cnn(build: Callable[..., Network]) -> NetworkEntry:
    return NetworkEntry(build.__name__, build, CNN, "default_8core")


def _transformer(build: Callable[..., Network], **parameters: int) -> NetworkEntry:
    return NetworkEntry(build.__name__, build, TRANSFORMER, "transformer_16core", parameters)


_DECODE_DEFAULTS = {"batch": 1, "context": 1024}

REGISTRY: dict[str, NetworkEntry] = {
    entry.name: entry
    for entry in (
        _cnn(cnn.resnet18),
        _cnn(cnn.vgg16),
        _cnn(cnn.alexnet),
        _cnn(cnn.mobilenet_v2),
        _transformer(transformer.bert_base),
        _transformer(transformer.gpt2_medium_block),
        _cnn(cnn.resnet50),
        _cnn(cnn.vgg19_bn),
        _cnn(cnn.efficientnet_b0),
        _transformer(transformer.tinyllama_block),
        _transformer(transformer.gpt2_medium_decode, **_DECODE_DEFAULTS),
        _transformer(transformer.tinyllama_decode, **_DECODE_DEFAULTS),
    )
}

NETWORK_NAMES: tuple[str, ...] = tuple(REGISTRY)

_SPEC = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\[(.*)\])?\s*$")


def _unknown(name: str) -> WorkloadError:
    return WorkloadError(
        f"unknown network {name!r}; built-in networks are: {', '.join(NETWORK_NAMES)}"
    )


def parse_network_spec(spec: str) -> tuple[str, dict[str, int]]:
    """`name` or `name[key=value,...]` -> (name, parameters); raises WorkloadError on bad text."""
    match = _SPEC.match(spec)
    if match is None:
        raise _unknown(spec)
    name, body = match.group(1), match.group(2)
    parameters: dict[str, int] = {}
    items = body.split(",") if body and body.strip() else []
    for item in items:
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key or not value.lstrip("-").isdigit():
            raise WorkloadError(
                f"network {spec!r}: parameter {item.strip()!r} must read key=integer, "
                f"e.g. {name}[batch=8,context=2048]"
            )
        parameters[key] = int(value)
    return name, parameters


def _resolved(entry: NetworkEntry, given: dict[str, int]) -> dict[str, int]:
    """The full parameter set of `entry` with `given` applied; rejects unknown names."""
    unknown = sorted(set(given) - set(entry.parameters))
    if unknown:
        accepted = ", ".join(entry.parameters) or "none"
        raise WorkloadError(
            f"network {entry.name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are: {accepted}"
        )
    for key, value in given.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise WorkloadError(
                f"network {entry.name!r}: {key} must be a positive integer, got {value!r}"
            )
    return {**entry.parameters, **given}


def network_name(name: str, parameters: dict[str, int]) -> str:
    """The canonical name: plain at the defaults, else every parameter in brackets."""
    entry = REGISTRY[name]
    if parameters == entry.parameters:
        return name
    return name + "[" + ",".join(f"{key}={parameters[key]}" for key in entry.parameters) + "]"


@functools.cache
def _build(name: str, parameters: tuple[tuple[str, int], ...]) -> Network:
    entry = REGISTRY[name]
    network = entry.build(**dict(parameters))
    canonical = network_name(name, dict(parameters))
    if network.name != canonical:
        network = dataclasses.replace(network, name=canonical)
    return network


def network_entry(spec: str) -> NetworkEntry:
    """The registry entry of a built-in network name (parameters in brackets allowed)."""
    name, _ = parse_network_spec(spec)
    if name not in REGISTRY:
        raise _unknown(spec)
    return REGISTRY[name]


def get_network(spec: str, **parameters: int) -> Network:
    """A built-in network by name, e.g. `get_network("resnet18")`, `get_network(
    "tinyllama_decode", batch=8, context=2048)` or `get_network("tinyllama_decode[batch=8]")`.
    Networks are frozen, so one instance per (name, parameters) is shared."""
    name, in_spec = parse_network_spec(spec) if isinstance(spec, str) else (spec, {})
    if name not in REGISTRY:
        raise _unknown(spec)
    overlap = sorted(set(in_spec) & set(parameters))
    if overlap:
        raise WorkloadError(f"network {spec!r}: {', '.join(overlap)} given twice")
    entry = REGISTRY[name]
    resolved = _resolved(entry, {**in_spec, **parameters})
    return _build(name, tuple((key, resolved[key]) for key in entry.parameters))


def is_network_spec(spec: str) -> bool:
    """Whether `spec` names a built-in network (with or without parameters)."""
    match = _SPEC.match(spec)
    return match is not None and match.group(1) in REGISTRY
