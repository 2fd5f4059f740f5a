"""YAML <-> domain objects for hardware and workloads, with every problem reported at once.

All user-supplied YAML enters the library here, so this is the one place that turns text into
validated frozen objects. Parsing uses `yaml.safe_load` (plus `yaml.compose` with the safe
loader, which builds no objects, to find duplicate keys that `safe_load` would silently
collapse and to refuse alias bombs); input size, alias expansion and the length of every error
message are bounded (`text`, `rules`). Validation never stops at the first problem: every
problem becomes a `ConfigIssue` carrying the YAML path of the offending value
(`hardware.levels.global_buffer.size_bits`, `workload.layers[3].stride_h`), and they are raised
together as one `ConfigError`. Input is never clamped or repaired; unknown keys are rejected as
likely typos, with a suggestion. Values that
are valid but implausible only warn (`plausibility_warnings`; ranges in `hardware_schema`).

Modules: `rules` (issues, errors, value rules shared by both schemas), `text` (reading and
parsing YAML within limits), `hardware_schema`, `workload_schema`.

Hardware schema (units in the key names; sizes, bandwidths, area and leakage per instance)::

    hardware:
      name: default_8core
      description: optional free text
      cores: 8
      levels:          # all six required
        dram | global_buffer | input_buffer | output_buffer | input_register | output_register:
          size_bits, read_bw_bits_per_cycle, write_bw_bits_per_cycle,
          read_energy_pj_per_bit, write_energy_pj_per_bit,
          area_mm2 (optional, 0), leakage_pj_per_cycle (optional, 0)
      macro:           # the fields of hardware.Macro; rows, columns, compartment_depth required
      spatial_dims:    # optional; each list narrows hardware.AXIS_ALLOWED_DIMS
        cores: [P, Q, K, G, N]
        rows: [R, S, C]
        columns: [K]

Workload schema: `workload:` with `name`, `layers:` (a list of mappings with the fields of
`workload.Layer`; omitted fields take the Layer defaults) and optional `skipped:` (nodes of an
imported model that are not mapped: `name`, `op_type`, `reason`).
"""

from miredo_core.config.hardware_schema import (
    dump_hardware,
    hardware_from_dict,
    hardware_to_dict,
    load_hardware,
    parse_hardware,
    plausibility_warnings,
    plausible_range,
)
from miredo_core.config.rules import MAX_SHOWN_ISSUES, ConfigError, ConfigIssue
from miredo_core.config.text import MAX_HARDWARE_BYTES, MAX_WORKLOAD_BYTES, MAX_YAML_NODES
from miredo_core.config.workload_schema import (
    dump_workload,
    load_workload_yaml,
    parse_workload,
    workload_from_dict,
    workload_to_dict,
)

__all__ = [
    "MAX_HARDWARE_BYTES",
    "MAX_SHOWN_ISSUES",
    "MAX_WORKLOAD_BYTES",
    "MAX_YAML_NODES",
    "ConfigError",
    "ConfigIssue",
    "dump_hardware",
    "dump_workload",
    "hardware_from_dict",
    "hardware_to_dict",
    "load_hardware",
    "load_workload_yaml",
    "parse_hardware",
    "parse_workload",
    "plausibility_warnings",
    "plausible_range",
    "workload_from_dict",
    "workload_to_dict",
]
