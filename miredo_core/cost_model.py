"""The analytical cost model: `evaluate(hw, layer, mapping) -> CostBreakdown`.

This is the single source of truth for every number the tool reports. Search engines only
generate mappings; the simulator (`simulator.py`) replays a mapping iteration by iteration as an
independent check of the latency written here in closed form. The latency recursion stated
below is computed by `latency.py`, whose compiled step and finish the searches share; the energy
and the assembly of `CostBreakdown` from its typed parts are here.

Modelling assumptions (both this model and the simulator implement them):

Data movement
- Every operand lives in DRAM and always reaches its compute interface (input register, macro
  cell, output register); intermediate levels without a loop of the operand are bypassed.
- Between two consecutive used levels of an operand, the child's tile is re-sent on every
  iteration of the boundary's trigger slot (the innermost loop above the child that is relevant
  to the operand; see `mapping.py`). Irrelevant loops below the trigger reuse the tile.
- One transfer takes max(ceil(parent-side bits / parent bandwidth), ceil(child-side bits / child
  bandwidth), 1) cycles. The parent side carries the tiles of all children it serves; a tile that
  several children share (an input broadcast to cores that split K) crosses the parent's port once
  but is written into every child. Each operand has its own port at every level: there is no
  contention between I, W and O on a shared level (as in the paper).
- Outputs are written back up. When a reduction loop (R, S, C) sits above the trigger, the tile is
  revisited: each later firing writes the old tile back and reads the next tile's partial sums down
  (2 transfers), partial sums are `psum_bits` wide, and so is every level that accumulates them.

Latency (cycles; slots i = 0 outermost .. N-1 innermost, factor F_i)
- One bit-serial pass of the array takes t_MAC = ceil(input_bits / input_bits_per_cycle) cycles.
- X(i, o) is the channel time of operand o's firing at slot i (0 if slot i triggers nothing for o;
  a psum boundary counts a read and a write); DL(i, o) says the receiving level is
  double-buffered.
- An iteration of slot i fires slot i's transfers and restarts every inner loop. For each operand
  the transfers on its critical path are serial (`_chain`): a single-buffered transfer waits until
  the tile it replaces is no longer used and the next pass waits for it; double-buffered I/W
  transfers whose parent tile is already in place were prefetched during the previous iteration;
  double-buffered output write-backs drain in the background. Different operands move in
  parallel on their own channels, so serial(i) = max over o of chain(o, i).
- Every double-buffered channel must also do its work: a transfer at slot j >= i fires
  prod_{i<l<=j} F_l times per iteration of slot i, back to back at best (`_busiest_channel`).
- Two durations of one entry into slot i are carried from the inside out, starting from t_MAC:
  the path duration Ep (passes and serial transfers only) and the full duration E:
      Crit(i) = max(Ep(i+1) + serial(i), channel(i), E(i+1))
      Ep(i)   = Ep(i+1) + (F_i - 1) * (Ep(i+1) + serial(i))
      E(i)    = E(i+1) + (F_i - 1) * Crit(i)
  The first iteration of an entry costs E(i+1): its transfers belong to the enclosing loop's
  iteration (or to start-up). Using Ep inside Crit lets a busy double-buffered channel hide the
  serial transfers of other operands, as it does when the channel runs ahead of compute.
  A single buffer therefore serializes transfer and use, a double buffer overlaps them. This is
  where weight loading and compute exclude each other on a macro without ping-pong: weights
  written into the macro are a single-buffered transfer.
- latency = start-up + E(0) + final write-back, where start-up is the slowest cascade of first I
  and W tiles from DRAM to the array (operands load in parallel) and the final write-back is the
  cascade of the last output tiles up to DRAM.
- The breakdown telescopes exactly: E(0) = t_MAC * prod F + sum_i m_i (F_i - 1) (Crit(i) - E(i+1))
  with m_i = prod_{j<i} F_j. Compute is the first term; each stall term is charged to the operand
  whose serial chain or channel set Crit(i): W -> weight-load (mode-switch) stall, I -> input
  stall, O -> output / psum stall.

Energy (pJ)
- Every transfer reads its bits from the source level and writes them into the destination level
  (all instances), at the level's per-bit energies. Output write-backs read the child and write
  the parent; revisited psums are also read down once per revisit. The macro's read is the compute.
- Compute: the macro activation energy of one bit-serial pass of a whole core's array times the
  passes times the active cores (an under-used array still pays a full activation, as in the paper).
- Leakage: the chip's static power times the latency.

Area is the hardware's (a property of the design, not of the mapping).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from miredo_core.analysis import Analysis, Boundary, analyze
from miredo_core.hardware import Hardware, Level
from miredo_core.kinds import EnergyDelay
from miredo_core.latency import (
    LATENCY_PART_NAMES,
    LatencyParts,
    OperandProfile,
    firing_cycles,
    latency_from_profiles,
    operand_profile,
)
from miredo_core.mapping import Mapping
from miredo_core.workload import OPERANDS, Layer, Operand

__all__ = [
    "LATENCY_PARTS",
    "READ",
    "WRITE",
    "CostBreakdown",
    "EnergyParts",
    "LatencyParts",
    "OperandProfile",
    "evaluate",
    "evaluate_analysis",
    "firing_cycles",
    "latency_from_profiles",
    "operand_profile",
]

READ = "read"
WRITE = "write"

#: Names of the `CostBreakdown` fields that add up to `latency_cycles`, in column order.
LATENCY_PARTS: tuple[str, ...] = LATENCY_PART_NAMES

#: Traffic and energy tables are keyed by (level, operand, READ or WRITE).
AccessKey = tuple[Level, Operand, str]


@dataclass(frozen=True)
class EnergyParts:
    """The energy of one layer under one mapping and its breakdown, in pJ.

    energy_pj = sum(memory_energy_pj) + mac_energy_pj + leakage_energy_pj.
    """

    energy_pj: float
    """Everything below: memory traffic, MAC activations and leakage."""
    mac_energy_pj: float
    """Macro activations: one full-array activation per bit-serial pass per active core."""
    leakage_energy_pj: float
    """The chip's static power over the latency."""
    memory_energy_pj: dict[AccessKey, float]
    """pJ of every level's reads and writes of every operand, over all instances."""
    memory_bits: dict[AccessKey, float]
    """Bits read or written per (level, operand, access), over all instances."""


class _Part:
    """A read-only attribute that reads the field `name` of the part `part` of its owner."""

    def __init__(self, part: str, name: str):
        self.part, self.name = part, name

    def __get__(self, cost, owner=None) -> Any:
        if cost is None:
            return self
        return getattr(getattr(cost, self.part), self.name)


def _read_parts(cls):
    """Every field of the latency and energy parts also reads off the breakdown itself, so a
    field added to a part needs no forwarding of its own."""
    for part, kind in (("latency_parts", LatencyParts), ("energy_parts", EnergyParts)):
        for f in fields(kind):
            setattr(cls, f.name, _Part(part, f.name))
    return cls


@_read_parts
@dataclass(frozen=True)
class CostBreakdown(EnergyDelay):
    """Cost of one layer under one mapping, built from its latency and energy parts.

    Every field of the parts reads directly off the breakdown too: `cost.latency_cycles`,
    `cost.compute_cycles`, the three `*_stall_cycles`, `cost.startup_cycles`,
    `cost.writeback_cycles` (`LatencyParts`), `cost.energy_pj`, `cost.mac_energy_pj`,
    `cost.leakage_energy_pj`, `cost.memory_energy_pj`, `cost.memory_bits` (`EnergyParts`), and
    their product `cost.edp_pj_cycles` (`kinds.EnergyDelay`).
    """

    #: Names of the fields that add up to `latency_cycles`, in column order.
    LATENCY_PARTS: ClassVar[tuple[str, ...]] = LATENCY_PART_NAMES

    latency_parts: LatencyParts
    energy_parts: EnergyParts
    area_mm2: float
    """Chip area in mm^2 (a property of the design, not of the mapping)."""
    macs: int
    """Multiply-accumulates of the layer."""
    spatial_utilization: float
    """Fraction of the cores x rows x columns compute cells the mapping unrolls onto."""
    utilization: float
    """Achieved MACs per cycle over the peak of the hardware."""

    @property
    def stall_cycles(self) -> float:
        return self.weight_load_stall_cycles + self.input_stall_cycles + self.output_stall_cycles

    def energy_by_level(self) -> dict[Level, float]:
        totals: dict[Level, float] = {}
        for (level, _, _), pj in self.memory_energy_pj.items():
            totals[level] = totals.get(level, 0.0) + pj
        return totals


def _latency(analysis: Analysis) -> LatencyParts:
    factors = [loop.factor for loop in analysis.mapping.loops]
    profiles = {op: operand_profile(analysis.boundaries[op], op, factors) for op in OPERANDS}
    return latency_from_profiles(factors, analysis.pass_cycles, profiles)


def boundary_traffic(
    b: Boundary, firings: float, revisits: float
) -> dict[tuple[Level, Operand, str], float]:
    """Bits read and written, over all instances, when `b` fires `firings` times and `revisits`
    of those re-read partial sums: I/W move down (parent read, child write); O is written back
    (child read, parent write) and a revisit also reads the psums down."""
    parent_bits = b.parent_tile_elements * b.bits * b.parent_instances
    child_bits = b.child_tile_elements * b.bits * b.child_instances
    if b.operand is not Operand.O:
        return {
            (b.parent, b.operand, READ): firings * parent_bits,
            (b.child, b.operand, WRITE): firings * child_bits,
        }
    bits = {
        (b.child, b.operand, READ): firings * child_bits,
        (b.parent, b.operand, WRITE): firings * parent_bits,
    }
    if revisits:
        bits[(b.parent, b.operand, READ)] = revisits * parent_bits
        bits[(b.child, b.operand, WRITE)] = bits.get((b.child, b.operand, WRITE), 0.0) + (
            revisits * child_bits
        )
    return bits


def add_traffic(total: dict, more: dict) -> dict:
    """Accumulate traffic entries into `total` (returned)."""
    for key, amount in more.items():
        total[key] = total.get(key, 0.0) + amount
    return total


def operand_traffic(
    boundaries: tuple[Boundary, ...],
) -> dict[tuple[Level, Operand, str], float]:
    """Bits read from and written into every level by one operand, summed over instances."""
    bits: dict[tuple[Level, Operand, str], float] = {}
    for b in boundaries:
        revisits = b.firings - b.distinct_tiles if b.psum else 0
        add_traffic(bits, boundary_traffic(b, b.firings, revisits))
    return bits


def mac_energy_pj(hw: Hardware, layer: Layer, passes: int, active_cores: int) -> float:
    """A full activation of every active core's array per bit-serial pass."""
    return hw.macro.activation_energy_pj(layer.input_bits) * passes * active_cores


def total_energy_pj(memory_pj, mac_pj: float, hw: Hardware, latency_cycles):
    """Memory + MAC + leakage over the latency (works on numbers and numpy arrays alike)."""
    return memory_pj + mac_pj + hw.leakage_pj_per_cycle * latency_cycles


def traffic_energy_pj(hw: Hardware, traffic: dict[tuple[Level, Operand, str], float]):
    """Energy of each traffic entry at its level's per-bit read or write energy."""
    energy = {}
    for (level, op, access), amount in traffic.items():
        memory = hw.memory(level)
        per_bit = (
            memory.read_energy_pj_per_bit if access == READ else memory.write_energy_pj_per_bit
        )
        energy[(level, op, access)] = amount * per_bit
    return energy


def evaluate(hw: Hardware, layer: Layer, mapping: Mapping) -> CostBreakdown:
    """Latency, energy and their breakdowns of `mapping` for `layer` on `hw`.

    Raises InfeasibleMappingError if the mapping is not valid (see `mapping.analyze`).
    """
    analysis = analyze(hw, layer, mapping)
    return evaluate_analysis(hw, analysis)


def evaluate_analysis(hw: Hardware, analysis: Analysis) -> CostBreakdown:
    latency = _latency(analysis)
    traffic = {}
    for op in OPERANDS:
        traffic.update(operand_traffic(analysis.boundaries[op]))
    memory_energy = traffic_energy_pj(hw, traffic)
    layer = analysis.layer
    mac_energy = mac_energy_pj(hw, layer, analysis.passes, analysis.active_cores)
    cycles = latency.latency_cycles
    energy = EnergyParts(
        energy_pj=total_energy_pj(sum(memory_energy.values()), mac_energy, hw, cycles),
        mac_energy_pj=mac_energy,
        leakage_energy_pj=hw.leakage_pj_per_cycle * cycles,
        memory_energy_pj=memory_energy,
        memory_bits=traffic,
    )
    peak = hw.peak_macs_per_cycle(layer.input_bits)
    return CostBreakdown(
        latency_parts=latency,
        energy_parts=energy,
        area_mm2=hw.area_mm2,
        macs=layer.macs,
        spatial_utilization=analysis.spatial_utilization,
        utilization=layer.macs / (peak * cycles),
    )
