"""MIREDO Studio's library: the public API.

Everything the dashboard, the benchmarks and scripts need is importable from here, e.g.
`from miredo_core import load_hardware, get_network, map_network`. Names are loaded on first
use (PEP 562 module `__getattr__`), so `import miredo_core` stays cheap: a spawned worker or the
CLI's `--help` does not pay for numba, python-mip or pandas until it needs them.

    hardware and workloads   load_hardware, parse_hardware, dump_hardware, canonical_hardware,
                             hardware_key, load_workload, parse_workload, dump_workload,
                             get_network, list_networks, import_onnx, apply_variant,
                             apply_variants, AXES
    one layer                evaluate, analyze (tiles and boundaries), simulate,
                             solve_layer, SolveOptions, PRESETS, SOLVERS,
                             spatial_candidates, certify_candidate (one spatial unrolling)
    networks and sweeps      map_network, Run, MAPPERS, register_mapper, run_sweep, SweepSpec,
                             parse_axis, ResultStore, StoredMapping, process_pool
    results                  NetworkResult, LayerResult, SearchStats, pareto_mask,
                             layer_floors, binding_floor, channel_cycles (what bounds a
                             layer)
    paper campaign           campaign_network, network_summary, summary_frame,
                             paper_comparison_frame
    vocabulary and errors    Objective, Status, objective_value, ConfigError,
                             InfeasibleMappingError, WorkloadError
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module (under miredo_core) that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "load_hardware",
            "parse_hardware",
            "dump_hardware",
            "hardware_to_dict",
            "parse_workload",
            "dump_workload",
            "workload_from_dict",
            "load_workload_yaml",
            "ConfigError",
        ),
        "config",
    ),  # fmt: skip
    **dict.fromkeys(("canonical_hardware", "hardware_key"), "canonical"),
    **dict.fromkeys(("load_workload", "get_network", "NETWORK_NAMES", "matmul_layer"), "zoo"),
    "import_onnx": "onnx_import",
    **dict.fromkeys(("Hardware", "Level", "Macro", "MemoryLevel"), "hardware"),
    **dict.fromkeys(
        ("Layer", "Network", "WorkloadError", "DIMS", "OPERANDS", "Dim", "Operand"), "workload"
    ),
    **dict.fromkeys(("Mapping", "InfeasibleMappingError"), "mapping"),
    **dict.fromkeys(("evaluate", "CostBreakdown"), "cost_model"),
    **dict.fromkeys(("analyze", "Analysis"), "analysis"),
    **dict.fromkeys(("layer_floors", "binding_floor", "channel_cycles", "spatial_bound"),
                    "explain"),
    **dict.fromkeys(
        (
            "NetworkSummary",
            "PAPER_CNN_EXACT_EDP",
            "PAPER_CNN_LAYERS",
            "PAPER_NOTE",
            "campaign_network",
            "network_summary",
            "paper_comparison_frame",
            "summary_frame",
            "template_path",
        ),
        "campaign",
    ),
    "simulate": "simulator",
    **dict.fromkeys(("solve_layer", "SolveOptions", "PRESETS", "MappingResult"), "search.engine"),
    "SOLVERS": "search.mip",
    "exhaustive_search": "search.oracle",
    "spatial_candidates": "search.spatial",
    **dict.fromkeys(("certify_candidate", "CertifyResult"), "search.tilechain_search"),
    **dict.fromkeys(("weight_stationary", "random_mapping", "random_search"), "search.baselines"),
    **dict.fromkeys(
        ("MAPPERS", "Mapper", "register_mapper", "get_mapper", "map_layer"), "mappers"
    ),  # fmt: skip
    **dict.fromkeys(("map_network", "map_networks", "Run", "ProgressCallback"), "network"),
    **dict.fromkeys(
        (
            "run_sweep",
            "SweepSpec",
            "SweepResult",
            "SweepStats",
            "SweepError",
            "dask_executor",
            "POINT_COLUMNS",
        ),
        "sweep",
    ),  # fmt: skip
    **dict.fromkeys(("parse_axis", "parse_axis_values", "SweepAxis"), "axes"),
    **dict.fromkeys(
        ("AXES", "VARIANT_AXES", "VariantAxis", "apply_variant", "apply_variants", "read_axes",
         "BITS_PER_KIB"),
        "variants",
    ),  # fmt: skip
    **dict.fromkeys(
        (
            "ResultStore",
            "StoreError",
            "StoredMapping",
            "default_store_path",
            "MEMORY",
            "STORE_ENV",
        ),
        "store",
    ),  # fmt: skip
    **dict.fromkeys(
        ("Objective", "Status", "objective_value", "OBJECTIVES", "STATUSES"), "kinds"
    ),  # fmt: skip
    **dict.fromkeys(
        (
            "NetworkResult",
            "LayerResult",
            "SearchStats",
            "FRAME_COLUMNS",
            "LATENCY_PARTS",
            "SEARCH_COLUMNS",
        ),
        "results",
    ),  # fmt: skip
    **dict.fromkeys(("pareto_mask", "PARETO_COLUMNS", "DEFAULT_PARETO_COLUMNS"), "pareto"),
    **dict.fromkeys(("process_pool", "WorkerPool", "spawn_manager"), "workers"),
}

__all__ = sorted([*_EXPORTS, "list_networks"])


def list_networks() -> tuple[str, ...]:
    """The names of the built-in networks (`get_network` builds one)."""
    return tuple(__getattr__("NETWORK_NAMES"))


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'miredo_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"miredo_core.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
