"""What a result means: per-layer bound cards, efficiency figures, a roofline, fidelity flags.

Every number here is read from a result's evaluated cost (`cost_model.evaluate`), its search
figures (`lower_bound`, `gap`) or the hardware; the only things derived are ratios and the
candidate floors of `miredo_core.explain.layer_floors`, the same proven floors the search
starts from:

- compute floor: the best spatial unrolling's bit-serial passes, t_MAC cycles each;
- DRAM floor: every touched element of an operand crosses its DRAM channel once;
- candidate floor: per unrolling the larger of the two (energy and EDP: MAC energy, DRAM energy
  and leakage over that latency), minimized over every legal unrolling.

A search that proves nothing above the candidate floor reports it as its lower bound; then the
gap is measured against that floor, and the card says so: the true gap may be much smaller.

`level_usage` reads a mapping's tiles off `miredo_core.analyze` (the facts the cost model starts
from) and its traffic off the evaluated cost: per (level, operand) the tile one instance holds,
the share of the level's capacity it takes (both halves when double-buffered) and the share of
the level's port bandwidth its reads and writes use over the layer's latency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from miredo_core import (
    LATENCY_PARTS,
    Hardware,
    LayerResult,
    Level,
    NetworkResult,
    analyze,
    binding_floor,
    channel_cycles,
    layer_floors,
    objective_value,
)

#: Model vs simulator difference above which a layer is flagged (DESIGN.md, fidelity).
FIDELITY_TOLERANCE = 0.02
#: Relative difference under which a bound counts as equal to a floor (floating-point noise).
_SAME = 1e-9
OPS_PER_MAC = 2
PJ_PER_J = 1e12
HZ_PER_MHZ = 1e6


@dataclass(frozen=True)
class BoundCard:
    """One layer's value against its proven bound, and what that bound is."""

    layer: str
    objective: str
    value: float
    bound: float
    gap: float
    compute_floor_cycles: float
    dram_floor_cycles: float
    candidate_floor: float
    floor_binding: str
    """The largest latency floor of the best unrolling (`binding_floor`): what sets the floor
    of a latency bound and the latency factor of an EDP one ("" for energy)."""
    bound_kind: str
    """"none" (a baseline claims nothing), "candidate floor", "above the floor" or "optimal"."""
    explanation: str
    largest_latency_part: str
    largest_latency_share: float


def bound_card(hardware: Hardware, result: LayerResult) -> BoundCard:
    """The card of a mapped layer (an unmapped one has no value to explain: value NaN)."""
    objective = result.objective
    value = math.nan if result.cost is None else objective_value(result.cost, objective)
    bound = float(result.search.lower_bound)
    gap = float(result.search.gap)
    compute, dram, floor = layer_floors(hardware, result.layer, objective)
    # An energy floor is a sum of energies: no latency floor sets it.
    binding = "" if objective == "energy" else binding_floor(hardware, result.layer, objective)[0]
    which = _floor_parts(objective, binding)
    if math.isnan(bound):
        kind = "none"
        text = (
            f"{result.mapper} is a baseline and proves no bound. For reference, the candidate "
            f"floor ({which}, best unrolling) is {_ratio_text(value, floor)} below it."
        )
    elif gap <= _SAME or result.status == "optimal":
        kind = "optimal"
        text = "Certified: no mapping of this layer is better than the proven bound allows."
    elif abs(bound - floor) <= _SAME * max(abs(floor), 1.0):
        kind = "candidate floor"
        text = (
            f"The gap is measured against the candidate floor ({which}, best spatial "
            "unrolling): the search proved nothing tighter, so the true gap may be much smaller."
        )
    else:
        kind = "above the floor"
        text = (
            f"The search proved a bound {_ratio_text(bound, floor)} above the candidate floor "
            f"({which}); the searched nests add buffer reloads, bandwidth and start-up to it."
        )
    part, share = _largest_part(result)
    return BoundCard(
        result.layer.name, objective, value, bound, gap, compute, dram, floor, binding, kind,
        text, part, share,
    )  # fmt: skip


#: What the energy floor of every candidate adds up.
ENERGY_FLOOR_PARTS = "MAC, DRAM, interface and register-traffic energy and leakage"


def _floor_parts(objective: str, binding: str) -> str:
    """What the candidate floor is made of, in words: for latency, the largest of its floors
    (`binding_floor`), which is the floor itself; for EDP, that latency floor times the
    energy floor."""
    if objective == "latency":
        return binding
    if objective == "energy":
        return ENERGY_FLOOR_PARTS
    return f"latency set by {binding}, times energy of {ENERGY_FLOOR_PARTS}"


def _ratio_text(high: float, low: float) -> str:
    if not (math.isfinite(high) and math.isfinite(low)) or high <= 0:
        return "—"
    return f"{100 * (high - low) / high:.1f} %"


def _largest_part(result: LayerResult) -> tuple[str, float]:
    """The latency component that takes the most cycles, and its share of the latency."""
    cost = result.cost
    if cost is None or cost.latency_cycles <= 0:
        return "", math.nan
    name = max(LATENCY_PARTS, key=lambda part: getattr(cost, part))
    return name, getattr(cost, name) / cost.latency_cycles


def bound_frame(hardware: Hardware, result: NetworkResult) -> pd.DataFrame:
    """Every mapped layer's bound card as a row (the report's table)."""
    cards = [bound_card(hardware, r) for r in result.layer_results if r.cost is not None]
    return pd.DataFrame([card.__dict__ for card in cards])


@dataclass(frozen=True)
class Efficiency:
    """Network figures at a clock the user chooses (the model counts cycles, not seconds)."""

    pj_per_mac: float
    tops_per_w: float
    tops_per_mm2: float
    inferences_per_s: float
    latency_s: float


def efficiency(result: NetworkResult, area_mm2: float, clock_mhz: float) -> Efficiency:
    """TOPS/W needs no clock (ops / energy); TOPS/mm² and inferences/s do. One MAC is two ops."""
    macs = result.macs
    energy_pj, latency_cycles = result.energy_pj, result.latency_cycles
    latency_s = latency_cycles / (clock_mhz * HZ_PER_MHZ) if clock_mhz > 0 else math.nan
    ops = OPS_PER_MAC * macs
    tops = ops / latency_s / 1e12 if latency_s > 0 else math.nan
    return Efficiency(
        pj_per_mac=energy_pj / macs if macs else math.nan,
        tops_per_w=ops / energy_pj if energy_pj > 0 else math.nan,  # ops/pJ = Tops/J = TOPS/W
        tops_per_mm2=tops / area_mm2 if area_mm2 > 0 else math.nan,
        inferences_per_s=1 / latency_s if latency_s > 0 else math.nan,
        latency_s=latency_s,
    )


def roofline_frame(hardware: Hardware, result: NetworkResult) -> pd.DataFrame:
    """Per mapped layer: achieved MACs/cycle, the array's peak, and the ceilings the mapping's
    own DRAM and global-buffer traffic set (MACs over the cycles its channels need)."""
    rows = []
    for r in result.layer_results:
        if r.cost is None:
            continue
        macs = r.layer.macs
        dram_bits = sum(b for (lv, _, _), b in r.cost.memory_bits.items() if lv is Level.DRAM)
        dram = channel_cycles(r.cost, hardware, Level.DRAM)
        buffer = channel_cycles(r.cost, hardware, Level.GLOBAL_BUFFER)
        rows.append({
            "layer": r.layer.name,
            "achieved_macs_per_cycle": macs / r.cost.latency_cycles,
            "peak_macs_per_cycle": hardware.peak_macs_per_cycle(r.layer.input_bits),
            "dram_ceiling_macs_per_cycle": macs / dram if dram > 0 else math.inf,
            "gb_ceiling_macs_per_cycle": macs / buffer if buffer > 0 else math.inf,
            "macs_per_dram_bit": macs / dram_bits if dram_bits > 0 else math.inf,
        })  # fmt: skip
    return pd.DataFrame(rows)


def fidelity_flags(result: NetworkResult) -> pd.DataFrame:
    """Layers whose simulated latency or energy differs from the cost model by more than
    FIDELITY_TOLERANCE (empty when nothing was simulated)."""
    rows = []
    for r in result.layer_results:
        if r.cost is None or r.sim_latency_cycles is None:
            continue
        latency = (r.sim_latency_cycles - r.cost.latency_cycles) / r.cost.latency_cycles
        energy = math.nan
        if r.sim_energy_pj is not None and r.cost.energy_pj > 0:
            energy = (r.sim_energy_pj - r.cost.energy_pj) / r.cost.energy_pj
        if abs(latency) > FIDELITY_TOLERANCE or abs(energy) > FIDELITY_TOLERANCE:
            rows.append((r.layer.name, latency, energy))
    return pd.DataFrame(rows, columns=["layer", "latency_difference", "energy_difference"])


#: Short level names, outermost first (as the loop-nest view spells them).
_LEVEL_NAMES = {
    Level.DRAM: "DRAM", Level.GLOBAL_BUFFER: "GB", Level.INPUT_BUFFER: "IBUF",
    Level.OUTPUT_BUFFER: "OBUF", Level.INPUT_REGISTER: "IReg", Level.OUTPUT_REGISTER: "OReg",
    Level.MACRO: "Macro",
}  # fmt: skip


def _port_use(bits: float, bw_bits_per_cycle: float, instances: int, cycles: float) -> float:
    """Bits moved through a port over the bits it could move in `cycles` (NaN: unlimited)."""
    if not math.isfinite(bw_bits_per_cycle) or cycles <= 0:
        return math.nan
    return bits / (bw_bits_per_cycle * instances * cycles)


def level_usage(hardware: Hardware, result: LayerResult) -> pd.DataFrame:
    """One row per (level, operand) a mapping uses below DRAM: tile elements and bytes per
    instance, double buffering, occupancy of the level (this operand, and all operands), and
    the read / write port use of this operand's traffic (see the module docstring)."""
    analysis = analyze(hardware, result.layer, result.mapping)
    traffic = result.cost.memory_bits
    cycles = result.cost.latency_cycles
    held: dict[Level, float] = {}
    rows = []
    for operand, chain in analysis.boundaries.items():
        for boundary in chain:
            level = boundary.child
            halves = 2 if boundary.double_buffered else 1
            bits = analysis.resident_bits[(level, operand)] * halves
            held[level] = held.get(level, 0.0) + bits
            memory = hardware.memory(level)
            instances = hardware.level_instances(level)
            rows.append({
                "level": _LEVEL_NAMES[level], "operand": operand.value,
                "tile_elements": boundary.child_tile_elements,
                "tile_bytes": analysis.resident_bits[(level, operand)] / 8,
                "double_buffered": bool(boundary.double_buffered),
                "occupancy": bits / memory.size_bits,
                "read_bw_use": _port_use(traffic.get((level, operand, "read"), 0.0),
                                         memory.read_bw_bits_per_cycle, instances, cycles),
                "write_bw_use": _port_use(traffic.get((level, operand, "write"), 0.0),
                                          memory.write_bw_bits_per_cycle, instances, cycles),
                "_level": level,
            })  # fmt: skip
    order = list(_LEVEL_NAMES)
    for row in rows:
        level = row.pop("_level")
        row["level_occupancy"] = held[level] / hardware.memory(level).size_bits
        row["_order"] = order.index(level)
    frame = pd.DataFrame(rows).sort_values(["_order", "operand"], kind="stable")
    return frame.drop(columns=["_order"]).reset_index(drop=True)
