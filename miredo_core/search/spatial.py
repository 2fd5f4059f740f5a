"""Spatial unrolling candidates and provable lower bounds on their cost.

A candidate assigns to every (axis, dim) a factor such that each dim's factors multiply to a
divisor of the dim (nothing is padded) and each axis's factors fit the axis. What is left of each
dim is the temporal remainder tu[d], mapped by the loops.

Every bound below holds for *every* mapping with the candidate's spatial unrolling, whatever its
tiling, order, placement or double buffering, under the model of `cost_model`:

- compute floor: the array runs prod(tu) bit-serial passes one after another, t_MAC cycles each,
  so latency >= t_MAC * prod(tu);
- DRAM floor of operand o: every element of o the layer touches crosses the DRAM boundary at
  least once, on o's own DRAM channel, whose transfers are serial with one another, so latency
  >= ceil(bits(o) / DRAM bandwidth) (read bandwidth for I and W, write bandwidth for O);
- interface floor: every operand reaches its compute interface (its innermost level: input
  register, macro cell, output register), and every element one instance of that level ever
  holds crosses its boundary at least once; B_o = those bits / the level's bandwidth (write
  bandwidth for I and W, read bandwidth for the outputs written back). When the interface level
  cannot be double-buffered (registers, a macro without ping-pong) those transfers are serial
  with compute: latency >= t_MAC * prod(tu) + max over such o of B_o;
- energy floor: the MAC energy (a constant of the candidate: passes x active cores x activation
  energy) plus reading every touched I and W bit from DRAM once and writing every O bit to DRAM
  once, plus moving every interface instance's bits across its boundary once (written for I and
  W, read for O), plus leakage over the latency floor; all other terms are non-negative;
- EDP floor: the product of the two floors (both factors are non-negative).

Proof of the interface floor. Fix an operand o whose interface level cannot be double-buffered:
its boundary there is single-buffered. Let its trigger be slot t (outermost = 0) and one firing
move a tile of w elements per instance. Every loop relevant to o outside the interface block is
at or above t, so the boundary fires n_t = prod_{j<=t} F_j times, at least once per distinct
tile, and the distinct tiles cover all of the instance's elements (sliding-window inputs
overlap, which only adds): n_t w >= the instance's elements. One firing takes X >= w b / bw
cycles (`mapping.tile_boundary`: at least the child side; b is the element width, for outputs
the narrower of output and partial-sum bits). In the latency recursion of `cost_model`, E >= Ep
and
    Ep(0) = t_MAC prod(F) + sum_i m_i (F_i - 1) serial(i),   m_i = prod_{j<i} F_j.
For every slot i <= t, serial(i) >= X: at t the single-buffered transfer is on o's chain, and
outside t o's chain only grows (it keeps that transfer). The sum of m_i (F_i - 1) over i <= t
telescopes to n_t - 1. The first transfer is paid outside E(0): for I and W in start-up (the
cascade of first tiles), for O in the final write-back. So latency >= X + t_MAC prod(F) +
(n_t - 1) X = t_MAC prod(F) + n_t X >= t_MAC prod(F) + B_o. (With no loop of o outside the
block, n_t = 1 and start-up or write-back alone gives it.) It holds for each such o, hence for
the largest.

Proof of the interface energy. Each firing moves the tile into (for O: out of) every instance
of the level (`cost_model.boundary_traffic`), n_t w >= the instance's elements as above, at the
level's per-bit write (read) energy; DRAM's side of a transfer is a different term, so both
floors are counted.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from miredo_core.cost_model import mac_energy_pj
from miredo_core.hardware import AXES, OPERAND_LEVELS, Axis, Hardware
from miredo_core.mapping import tile_boundary
from miredo_core.search.factors import divisors
from miredo_core.search.placement import can_double_buffer
from miredo_core.workload import DIMS, OPERANDS, Dim, Layer, Operand


@dataclass(frozen=True)
class SpatialCandidate:
    spatial: tuple[tuple[Axis, Dim, int], ...]
    temporal: tuple[tuple[Dim, int], ...]
    """tu: the temporal remainder of every dim (dims with 1 omitted)."""
    utilization: float
    latency_bound_cycles: float
    energy_bound_pj: float

    @property
    def edp_bound(self) -> float:
        return self.latency_bound_cycles * self.energy_bound_pj

    def bound(self, objective: str) -> float:
        return {
            "latency": self.latency_bound_cycles,
            "energy": self.energy_bound_pj,
            "edp": self.edp_bound,
        }[objective]


def _dim_splits(hw: Hardware, dim: Dim, size: int):
    """Every assignment of spatial factors of `dim` to the axes that may unroll it."""
    axes = [axis for axis in AXES if dim in hw.axis_dims(axis)]
    options = [[f for f in divisors(size) if f <= hw.axis_size(axis)] for axis in axes]
    for combo in itertools.product(*options):
        if size % math.prod(combo) == 0:
            yield tuple(zip(axes, combo, strict=True))


def dram_floor_cycles(hw: Hardware, layer: Layer) -> dict[Operand, int]:
    """Cycles the DRAM channel of each operand needs to move the data the layer touches once."""
    floors = {}
    for op in OPERANDS:
        bits = layer.tile_elements(op, layer.dims) * layer.precision_bits(op)
        bandwidth = (
            hw.dram.write_bw_bits_per_cycle if op is Operand.O else hw.dram.read_bw_bits_per_cycle
        )
        floors[op] = math.ceil(bits / bandwidth)
    return floors


def dram_floor_energy_pj(hw: Hardware, layer: Layer, operand: Operand | None = None) -> float:
    """Energy of moving every touched element of `operand` (default: all operands) across the
    DRAM boundary once: I and W read, O written."""
    total = 0.0
    for op in OPERANDS if operand is None else (operand,):
        bits = layer.tile_elements(op, layer.dims) * layer.precision_bits(op)
        per_bit = (
            hw.dram.write_energy_pj_per_bit if op is Operand.O else hw.dram.read_energy_pj_per_bit
        )
        total += bits * per_bit
    return total


def _interface_floor(hw: Hardware, layer: Layer, spatial, remaining: dict, op: Operand):
    """(cycles, pJ) the operand's compute interface (its innermost level) must spend over the
    layer: every element one instance ever holds crosses its boundary once (module docstring).
    The cycles count only when that level cannot be double-buffered."""
    depth = len(OPERAND_LEVELS[op]) - 1
    level = hw.memory(OPERAND_LEVELS[op][depth])
    whole = tile_boundary(hw, layer, spatial, op, 0, depth, remaining, trigger=0, firings=1,
                          distinct_tiles=1, psum=False, double_buffered=False)  # fmt: skip
    bits = layer.precision_bits(op)
    if op is Operand.O:  # written back up; partial sums may be narrower than final outputs
        bits = min(bits, hw.macro.psum_bits)
        bandwidth, pj_per_bit = level.read_bw_bits_per_cycle, level.read_energy_pj_per_bit
    else:
        bandwidth, pj_per_bit = level.write_bw_bits_per_cycle, level.write_energy_pj_per_bit
    instance_bits = whole.child_tile_elements * bits
    serial = not can_double_buffer(hw, OPERAND_LEVELS[op][depth])
    cycles = instance_bits / bandwidth if serial and math.isfinite(bandwidth) else 0.0
    return cycles, instance_bits * whole.child_instances * pj_per_bit


def candidate(hw: Hardware, layer: Layer, spatial: tuple[tuple[Axis, Dim, int], ...]):
    """Bounds and utilization of one spatial unrolling (assumed legal)."""
    remaining = dict(layer.dims)
    for _, dim, factor in spatial:
        remaining[dim] //= factor
    passes = math.prod(remaining.values())
    t_mac = hw.macro.pass_cycles(layer.input_bits)
    interface = [_interface_floor(hw, layer, spatial, remaining, op) for op in OPERANDS]
    serial = max(cycles for cycles, _ in interface)
    latency = max(t_mac * passes + serial, *dram_floor_cycles(hw, layer).values())
    cores = math.prod(f for a, _, f in spatial if a is Axis.CORES)
    energy = (
        mac_energy_pj(hw, layer, passes, cores)
        + dram_floor_energy_pj(hw, layer)
        + sum(pj for _, pj in interface)
        + hw.leakage_pj_per_cycle * latency
    )
    used = math.prod(f for _, _, f in spatial)
    return SpatialCandidate(
        spatial=spatial,
        temporal=tuple((d, remaining[d]) for d in DIMS if remaining[d] > 1),
        utilization=used / (hw.cores * hw.macro.rows * hw.macro.columns),
        latency_bound_cycles=float(latency),
        energy_bound_pj=energy,
    )


def spatial_candidates(hw: Hardware, layer: Layer) -> list[SpatialCandidate]:
    """Every legal spatial unrolling, best utilization first (ties: lower latency bound, then
    fewer temporal loops)."""
    per_dim = [list(_dim_splits(hw, dim, layer.size(dim))) for dim in DIMS]
    found = []
    for combo in itertools.product(*per_dim):
        load = dict.fromkeys(AXES, 1)
        for dim_split in combo:
            for axis, factor in dim_split:
                load[axis] *= factor
        if any(load[axis] > hw.axis_size(axis) for axis in AXES):
            continue
        spatial = tuple(
            sorted(
                ((axis, dim, f) for dim, split in zip(DIMS, combo, strict=True)
                 for axis, f in split if f > 1),
                key=lambda t: (AXES.index(t[0]), DIMS.index(t[1])),
            )
        )  # fmt: skip
        found.append(candidate(hw, layer, spatial))
    found.sort(key=lambda c: (-c.utilization, c.latency_bound_cycles, len(c.temporal)))
    return found
