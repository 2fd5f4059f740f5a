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
  holds crosses its boundary at least once. B_o is the fewest cycles that can take: the larger
  of the child side (those bits / the interface's bandwidth: write bandwidth for I and W, read
  bandwidth for the outputs written back) and the feeding side (every element below one
  instance of the feeding level crosses that level's port, at its bandwidth), minimized over the
  levels that may feed the interface. When the interface level cannot be double-buffered
  (registers, a macro without ping-pong) those transfers are serial with compute: latency >=
  t_MAC * prod(tu) + max over such o of B_o; when it can, latency >= B_o all the same;
- transition floor: between two passes the registers whose tile changes must reload, serially;
  every loop is relevant to I or to O, so every pass but the first pays at least the cheaper of
  the two reloads, and most pay the dearer (proof below); with a macro that cannot hold a core's
  weights at once, the weight writes add on top of the reloads they do not overlap;
- energy floor: the MAC energy (a constant of the candidate: passes x active cores x activation
  energy) plus reading every touched I and W bit from DRAM once and writing every O bit to DRAM
  once, plus moving every interface instance's bits across its boundary once (written for I and
  W, read for O), plus leakage over the latency floor; all other terms are non-negative;
- EDP floor: the product of the two floors (both factors are non-negative).

Notation. In the latency recursion of `cost_model`, E >= Ep and
    Ep(0) = t_MAC prod(F) + sum_i c_i serial(i),   c_i = m_i (F_i - 1),  m_i = prod_{j<i} F_j,
where serial(i) is the longest operand chain at slot i (outermost slot = 0); latency >=
start-up + E(0) + write-back. Summing c_i over the slots i > t telescopes to P - n_t, where P =
prod(F) = prod(tu) is the number of passes and n_t = prod_{j<=t} F_j; over i <= t it is n_t - 1.
Fix an operand o and its interface boundary (the innermost). Let t be its trigger slot and X one
firing's cycles. X is at least X_o, the cycles of a firing with no temporal loop in the block
and the fastest feeding level (`tile_boundary` cycles only grow with the tile and the feeding
level is one of those minimized over). Start-up (I, W) and write-back (O) contain X (they are
the cascades of every boundary's one-way cycles).

Proof of the interface floor. Let o's interface be single-buffered and move w elements per
instance per firing. Every loop relevant to o outside the interface block is at or above t, so
the boundary fires n_t times, at least once per distinct tile, and the distinct tiles cover all
of the instance's elements (sliding-window inputs overlap, which only adds): n_t w >= the
instance's elements, and n_t X >= B_o (X is at least w b / bw on the child side, b the element
width, for outputs the narrower of output and partial-sum bits; on the feeding side the same
holds for the feeding instance's tile, whose firings cover its whole share). For every slot
i <= t, serial(i) >= X: at t the single-buffered transfer is on o's chain, and outside t o's
chain only grows (it keeps that transfer). So latency >= X + t_MAC P + (n_t - 1) X >= t_MAC P +
B_o. (With no loop of o outside the block, n_t = 1 and start-up or write-back alone gives it.)
For a double-buffered interface, the finish of the recursion raises the latency to at least the
channel's whole-layer work, n_t firings of at least X each (n_t = 1: the cascade), >= B_o.

Proof of the transition floor. Let the input and output registers be single-buffered and let
neither hold the tile of any temporal loop relevant to it (checked: the smallest such loop's
tile exceeds the register). Then no loop relevant to o with F >= 2 lies in o's interface block,
so every such loop is at or above o's trigger t_o, and every slot i <= t_o has serial(i) >= X_o
(as above). Every dim is relevant to I or to O (R, S, C index inputs; K indexes outputs; P, Q,
G, N both), so every slot with F >= 2 has i <= t_I or i <= t_O. Let M = max(X_I, X_O). The
slots above both triggers cost at least M each; the slots i > t_I (all irrelevant to I, so
their factors multiply to at most Q_I, the product of tu over the dims irrelevant to I) cost at
least X_O, and weigh sum c_i = P - n_{t_I} <= P - P / Q_I; likewise the slots i > t_O cost at
least X_I and weigh at most P - P / Q_O. The two sets are suffixes of the nest and one of them
is empty (the innermost slot with F >= 2 is relevant to I or to O). Partial sums: when the
slots i > t_O are empty and some reduction loop has F >= 2 (Q_O > 1), that loop sits above
t_O (it is not in O's block, which would put it after t_O), so every output-register firing is
a partial-sum round trip of at least X_O* = 2 x (its fewest cycles at partial-sum width); let
M* = max(X_I, X_O*) (X_O* = X_O when Q_O = 1). Every mapping falls in one of two cases:
    (a) no slot after t_O:  sum_i c_i serial(i) >= L_a = (P - 1) M* - (M* - X_O*)(P - P/Q_I),
        every per-slot bound u_i used <= U_a = M*;
    (b) slots after t_O, hence none after t_I; those slots are reduction loops (R, S, C), all
        relevant to W. Let s be the largest product of reduction factors whose weight tile fits
        one macro (`reduction_fit`: a weight tile is the spatial tile times the factors
        of the W-relevant loops in the block, with no halo), and let X_W^s = X_W when the macro
        is single-buffered, 0 otherwise; X_IW = max(X_I, X_W^s), M_W = max(M, X_W^s).
        (b1) t_O <= t_W. The slots after t_W lie after t_O, so they are reduction loops, hence
             relevant to W and inside the macro block: their product is at most s and
             n_{t_W} >= P / s. Every slot costs at least X_I, every slot i <= t_W at least
             X_W^s (as above), every slot i <= t_O at least M_W; as sum_{i<=t} c_i = n_t - 1,
                  sum_i c_i serial(i) >= L_b1 = X_I (P - 1) + (X_IW - X_I)(P/s - 1)
                                              + (M_W - X_IW)(P/Q_O - 1),    every u_i <= M_W;
        (b2) t_W < t_O (possible only if s >= 2). The slots after t_O lie after t_W and are
             relevant to W, so they are inside the macro block: their product is at most s and
             n_{t_O} >= P / s. If s < Q_O a reduction loop sits above t_O and every output
             firing is a partial-sum round trip; let X_b = X_O* then, X_O otherwise:
                  sum_i c_i serial(i) >= L_b2 = X_I (P - 1) + (max(X_I, X_b) - X_I)(P/s - 1),
             every u_i <= max(X_I, X_b);
and in its case latency >= max(X_I, X_W) + t_MAC P + L + X_O (start-up, E(0), write-back).
Weights on top, in either case. Let the macro be single-buffered with weight firing cycles
X_W > U. The slots i <= t_W cost at least X_W' >= X_W, the actual firing cycles, so
    sum_i c_i serial(i) >= sum_{i<=t_W} c_i (X_W' - u_i) + sum_i c_i u_i
                         >= (n_{t_W} - 1)(X_W' - U) + L.
Adding start-up >= X_W' gives n_{t_W} (X_W' - U) + U + L, and n_{t_W} (X_W' - U) =
n_{t_W} X_W' (1 - U / X_W') >= B_W (1 - U / X_W). So latency >= t_MAC P + L + U +
B_W (1 - U / X_W) + X_O. The floor is the smallest of the cases' larger bounds.

Transposed twins. Swapping a layer's rows and columns, P <-> Q together with R <-> S, in a
mapping's spatial unrolling and loops (levels and double buffers unchanged) is a bijection of
its legal mappings onto themselves that keeps every cost term, when the layer's plane is
square (P = Q, R = S, input height = width, the same stride, dilation and padding both ways)
and every axis may unroll P iff it may unroll Q and R iff S (`transpose_symmetric`): the cost
model reads P, Q, R, S only through relevance (P and Q are relevant to I and O, R and S to I
and W, R and S are reductions), through tile extents (an input tile's rows come from P and R
with the vertical stride, dilation and height, its columns from Q and S with the horizontal
ones, and the element count is their product) and through divisibility and axis sizes, all of
which the swap exchanges symmetrically. So a candidate and its transpose have the same mappings
up to the swap, the same optimum and the same bounds, and searching one of each pair finds the
layer's optimum and proves the same bound (`spatial_candidates` keeps the first of each pair).

Proof of the interface energy. Each firing moves the tile into (for O: out of) every instance
of the level (`cost_model.boundary_traffic`), n_t w >= the instance's elements as above, at the
level's per-bit write (read) energy; DRAM's side of a transfer is a different term, so both
floors are counted.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

from miredo_core.analysis import tile_boundary, transfer_cycles
from miredo_core.cost_model import mac_energy_pj
from miredo_core.hardware import AXES, OPERAND_LEVELS, Axis, Hardware
from miredo_core.search.factors import divisors
from miredo_core.search.placement import can_double_buffer
from miredo_core.workload import DIMS, OPERANDS, Dim, Layer, Operand, is_relevant


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


#: The swap of a layer's rows and columns: output rows and columns, kernel rows and columns.
TRANSPOSE = {Dim.P: Dim.Q, Dim.Q: Dim.P, Dim.R: Dim.S, Dim.S: Dim.R}


def transpose_symmetric(hw: Hardware, layer: Layer) -> bool:
    """Whether swapping the layer's rows and columns (P <-> Q with R <-> S) maps its mappings
    onto themselves at the same cost (module docstring, "transposed twins")."""
    square = (
        layer.P == layer.Q
        and layer.R == layer.S
        and layer.input_h == layer.input_w
        and layer.stride_h == layer.stride_w
        and layer.dilation_h == layer.dilation_w
        and (layer.pad_top, layer.pad_bottom) == (layer.pad_left, layer.pad_right)
    )
    return square and all(
        (Dim.P in dims) == (Dim.Q in dims) and (Dim.R in dims) == (Dim.S in dims)
        for dims in (hw.axis_dims(axis) for axis in AXES)
    )


def _spatial_order(entry: tuple[Axis, Dim, int]) -> tuple[int, int, int]:
    axis, dim, factor = entry
    return AXES.index(axis), DIMS.index(dim), factor


def transposed(spatial: tuple[tuple[Axis, Dim, int], ...]) -> tuple[tuple[Axis, Dim, int], ...]:
    """The spatial unrolling with rows and columns swapped (P <-> Q, R <-> S), in the order
    `spatial_candidates` lists unrollings in."""
    return tuple(sorted(((axis, TRANSPOSE.get(dim, dim), factor) for axis, dim, factor in spatial),
                        key=_spatial_order))  # fmt: skip


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


def _smallest_factor(n: int) -> int:
    return next(f for f in range(2, n + 1) if n % f == 0)


def _interface_cycles(
    hw: Hardware, layer: Layer, spatial, tile: dict, op: Operand, psums=(False, True)
) -> int:
    """Fewest cycles the operand's interface boundary can take to move the tile of temporal
    extents `tile`: the minimum over every level that may feed the interface (any level above
    it in the operand's chain) and, for outputs, over the widths in `psums` (final outputs,
    partial sums)."""
    depth = len(OPERAND_LEVELS[op]) - 1
    psums = psums if op is Operand.O else (False,)
    return min(
        transfer_cycles(hw, layer, spatial, op, parent, depth, tile, psum)
        for parent in range(depth) for psum in psums
    )  # fmt: skip


def _holds_no_relevant_loop(hw: Hardware, layer: Layer, spatial, remaining: dict, op) -> bool:
    """Whether no temporal loop relevant to `op` fits inside its interface block: the
    interface instance cannot hold the tile of even the smallest such loop (its capacity in
    `analysis.resident_bits` terms; the output register always holds partial-sum width)."""
    depth = len(OPERAND_LEVELS[op]) - 1
    level = OPERAND_LEVELS[op][depth]
    bits = hw.macro.psum_bits if op is Operand.O else layer.precision_bits(op)
    for dim, size in remaining.items():
        if size < 2 or not is_relevant(op, dim):
            continue
        tile = {dim: _smallest_factor(size)}
        whole = tile_boundary(hw, layer, spatial, op, 0, depth, tile, trigger=0, firings=1,
                              distinct_tiles=1, psum=True, double_buffered=False)  # fmt: skip
        if whole.child_tile_elements * bits <= hw.memory(level).size_bits:
            return False
    return True


@dataclass(frozen=True)
class _Interface:
    """What one operand's compute interface (its innermost level) costs every mapping of a
    candidate (module docstring, "interface floors")."""

    volume_cycles: float
    """B_o: the fewest cycles in which every element the interface ever holds can cross its
    boundary (child side per instance, or the feeding level's side for its whole share)."""
    firing_cycles: float
    """X_o: the fewest cycles of one firing (no temporal loop inside the block)."""
    serial: bool
    """The interface cannot be double-buffered: its transfers are on the critical path."""
    energy_pj: float
    """Moving every element one instance ever holds across the boundary once, all instances."""


def _interface(hw: Hardware, layer: Layer, spatial, remaining: dict, op: Operand) -> _Interface:
    depth = len(OPERAND_LEVELS[op]) - 1
    level = hw.memory(OPERAND_LEVELS[op][depth])
    whole = tile_boundary(hw, layer, spatial, op, 0, depth, remaining, trigger=0, firings=1,
                          distinct_tiles=1, psum=False, double_buffered=False)  # fmt: skip
    bits = layer.precision_bits(op)
    if op is Operand.O:  # written back up; partial sums may be narrower than final outputs
        bits = min(bits, hw.macro.psum_bits)
        pj_per_bit = level.read_energy_pj_per_bit
    else:
        pj_per_bit = level.write_energy_pj_per_bit
    instance_bits = whole.child_tile_elements * bits
    return _Interface(
        volume_cycles=float(_interface_cycles(hw, layer, spatial, remaining, op)),
        firing_cycles=float(_interface_cycles(hw, layer, spatial, {}, op)),
        serial=not can_double_buffer(hw, OPERAND_LEVELS[op][depth]),
        energy_pj=instance_bits * whole.child_instances * pj_per_bit,
    )


def _irrelevant_product(remaining: dict, op: Operand) -> int:
    return math.prod(size for dim, size in remaining.items() if not is_relevant(op, dim))


def reduction_fit(
    hw: Hardware, layer: Layer, spatial, remaining: dict, share: int = 1
) -> dict[Dim, int]:
    """The reduction tile (dims irrelevant to O, each factor a divisor of its remainder) of the
    largest product whose weight tile fits one macro (`analysis.resident_bits` terms; a weight
    tile is the spatial tile times the factors of the W-relevant loops in the block, with no
    halo): no macro block holds reduction loops of a larger product (module docstring). Of
    tiles with the same product, the first found (dims in reverse `DIMS` order) is kept. With
    `share` 2, the tile that fits one half of the macro (a ping-pong macro, double-buffered);
    empty when not even the spatial tile fits that room."""
    depth = len(OPERAND_LEVELS[Operand.W]) - 1
    base = tile_boundary(hw, layer, spatial, Operand.W, 0, depth, {}, trigger=0, firings=1,
                         distinct_tiles=1, psum=False, double_buffered=False)  # fmt: skip
    room = (
        hw.memory(OPERAND_LEVELS[Operand.W][depth]).size_bits
        // share
        // (base.child_tile_elements * layer.precision_bits(Operand.W))
    )
    if room < 1:  # not even the spatial weight tile fits (one half of a one-deep macro)
        return {}
    tiles: dict[int, dict[Dim, int]] = {1: {}}
    for dim in reversed(DIMS):
        size = remaining.get(dim, 1)
        if size > 1 and not is_relevant(Operand.O, dim):
            grown = {}
            for product, tile in tiles.items():
                for f in divisors(size):
                    if product * f <= room:
                        grown.setdefault(product * f, {**tile, dim: f} if f > 1 else tile)
            tiles = grown
    return tiles[max(tiles)]


def _transition_floor(hw, layer, spatial, remaining, passes, faces) -> float:
    """Cycles every mapping of the candidate spends beyond t_MAC x passes on register
    reloads between passes, plus the first and last transfers (module docstring, "transition
    floor"); only valid when no register can hold a relevant loop
    (`_holds_no_relevant_loop` of I and O); 0 when a register is double-buffered."""
    face_i, face_w, face_o = (faces[op] for op in OPERANDS)
    if not (face_i.serial and face_o.serial):
        return 0.0
    x_i, x_o, x_w = face_i.firing_cycles, face_o.firing_cycles, face_w.firing_cycles
    most = max(x_i, x_o)
    # No slot after the output register's trigger: every reduction loop sits above it, so each
    # of its firings is a partial-sum round trip.
    x_psum = x_o
    q_o = _irrelevant_product(remaining, Operand.O)
    if q_o > 1:
        x_psum = 2.0 * _interface_cycles(hw, layer, spatial, {}, Operand.O, psums=(True,))
    most_psum = max(x_i, x_psum)
    fits = math.prod(reduction_fit(hw, layer, spatial, remaining).values())
    x_ws = x_w if face_w.serial else 0.0  # a single-buffered macro's weight firing
    x_iw, most_w = max(x_i, x_ws), max(most, x_ws)
    cases = [  # (L, U) of the cases of the docstring
        ((passes - 1) * most_psum
         - (most_psum - x_psum) * (passes - passes / _irrelevant_product(remaining, Operand.I)),
         most_psum),
        # (b1): the weight trigger at or inside the output register's
        (x_i * (passes - 1) + (x_iw - x_i) * (passes / fits - 1)
         + (most_w - x_iw) * (passes / q_o - 1), most_w),
    ]  # fmt: skip
    if fits > 1:  # (b2): the weight trigger outside it, the reductions inside it in the macro
        x_b2 = x_o if fits == q_o else x_psum
        cases.append((x_i * (passes - 1) + (max(x_i, x_b2) - x_i) * (passes / fits - 1),
                      max(x_i, x_b2)))  # fmt: skip
    totals = []
    for reloads, dearest in cases:
        total = reloads + max(x_i, x_w) + x_o
        if face_w.serial and x_w > dearest:
            total = max(total, reloads + dearest + face_w.volume_cycles * (1 - dearest / x_w) + x_o)
        totals.append(total)
    return min(totals)


def _firing_energy(hw: Hardware, layer: Layer, spatial, op: Operand, parent: int, psum: bool):
    """(feeding side, interface side, revisit) pJ of one firing of the operand's interface
    boundary with no temporal loop in its block, fed from the level at depth `parent`
    (`cost_model.boundary_traffic`: I/W parent read + child write; O child read + parent
    write, and a revisit's parent read + child write)."""
    depth = len(OPERAND_LEVELS[op]) - 1
    b = tile_boundary(hw, layer, spatial, op, parent, depth, {}, trigger=0, firings=1,
                      distinct_tiles=1, psum=psum, double_buffered=False)  # fmt: skip
    parent_bits = b.parent_tile_elements * b.bits * b.parent_instances
    child_bits = b.child_tile_elements * b.bits * b.child_instances
    feeder, face = hw.memory(OPERAND_LEVELS[op][parent]), hw.memory(OPERAND_LEVELS[op][depth])
    if op is Operand.O:
        revisit = parent_bits * feeder.read_energy_pj_per_bit
        revisit += child_bits * face.write_energy_pj_per_bit
        return (parent_bits * feeder.write_energy_pj_per_bit,
                child_bits * face.read_energy_pj_per_bit, revisit)  # fmt: skip
    return (parent_bits * feeder.read_energy_pj_per_bit,
            child_bits * face.write_energy_pj_per_bit, 0.0)  # fmt: skip


def _firing_options(hw: Hardware, layer: Layer, spatial, op: Operand):
    """(feeding depth, per-firing pJ triple) for every level that may feed the register and,
    for outputs, both widths."""
    depth = len(OPERAND_LEVELS[op]) - 1
    psums = (False, True) if op is Operand.O else (False,)
    return [(parent, psum, _firing_energy(hw, layer, spatial, op, parent, psum))
            for parent in range(depth) for psum in psums]  # fmt: skip


def _register_energy(options, dram_floor_pj: float, firings, revisits, psum_only: bool) -> float:
    """Fewest pJ `firings` firings (`revisits` of them partial-sum revisits) of a register's
    boundary can cost, over its feeding `options` (`_firing_options`); DRAM's share of the
    DRAM floor (counted elsewhere) is not counted twice."""
    best = math.inf
    for parent, psum, (feed, face, revisit) in options:
        if psum_only and not psum:
            continue
        feed *= firings
        if parent == 0:
            feed = max(0.0, feed - dram_floor_pj)
        best = min(best, feed + firings * face + revisits * revisit)
    return best


def _register_traffic_floor(hw, layer, spatial, remaining, passes) -> float:
    """Energy of the input and output registers' boundaries in every mapping of the candidate
    (module docstring, "register traffic"); only valid when no register can hold a relevant
    loop (`_holds_no_relevant_loop` of I and O)."""
    q_i = _irrelevant_product(remaining, Operand.I)
    q_o = _irrelevant_product(remaining, Operand.O)
    inputs = (_firing_options(hw, layer, spatial, Operand.I),
              dram_floor_energy_pj(hw, layer, Operand.I))  # fmt: skip
    outputs = (_firing_options(hw, layer, spatial, Operand.O),
               dram_floor_energy_pj(hw, layer, Operand.O))  # fmt: skip
    # (a) no slot after the output register's trigger; (b) none after the input register's.
    case_a = _register_energy(*outputs, passes, passes - passes / q_o, q_o > 1)
    case_a += _register_energy(*inputs, passes / q_i, 0.0, False)
    case_b = _register_energy(*inputs, passes, 0.0, False)
    case_b += _register_energy(*outputs, passes / q_o, 0.0, False)
    return min(case_a, case_b)


#: What a serial interface's transfers are, by operand, in `latency_floor_terms`' names.
_SERIAL_TRANSFERS = {Operand.I: "input register loads", Operand.W: "weight writes into the macro",
                     Operand.O: "output register write-backs"}  # fmt: skip
#: What an interface's bandwidth term moves, by operand.
_INTERFACE_TRAFFIC = {Operand.I: "input register", Operand.W: "macro weight-write",
                      Operand.O: "output register"}  # fmt: skip


#: Share of a reload floor that the weight writes must add before they are named in it.
WEIGHT_SHARE_NAMED = 0.01


def _remaining(layer: Layer, spatial) -> dict[Dim, int]:
    """tu: what the spatial unrolling leaves of every dim to the loops."""
    remaining = dict(layer.dims)
    for _, dim, factor in spatial:
        remaining[dim] //= factor
    return remaining


def _interfaces(hw: Hardware, layer: Layer, spatial, remaining: dict) -> tuple[dict, bool]:
    """(every operand's interface, the premise of the transition floor and of the
    register-traffic energy) of a spatial unrolling with temporal remainders `remaining`."""
    faces = {op: _interface(hw, layer, spatial, remaining, op) for op in OPERANDS}
    premise = all(_holds_no_relevant_loop(hw, layer, spatial, remaining, op)
                  for op in (Operand.I, Operand.O))  # fmt: skip
    return faces, premise


def _latency_terms(
    hw, layer, spatial, remaining: dict, faces: dict, premise: bool, named: bool = False
) -> dict[str, float]:
    """The candidate's latency floors (module docstring); the bound is their maximum. Each is
    a proven floor by itself: "compute + X" adds to t_MAC x passes the serial transfers X that
    cannot overlap compute. `named`: the reload floor's name also says whether a
    single-buffered macro's weight writes add at least WEIGHT_SHARE_NAMED of it (a second
    evaluation of that floor, which the bound itself does not need)."""
    passes = math.prod(remaining.values())
    t_mac = hw.macro.pass_cycles(layer.input_bits)
    compute = float(t_mac * passes)
    terms = {"compute": compute}
    serial = [op for op in OPERANDS if faces[op].serial]
    if serial:
        op = max(serial, key=lambda o: faces[o].volume_cycles)
        terms[f"compute + {_SERIAL_TRANSFERS[op]}"] = compute + faces[op].volume_cycles
    if premise:
        transitions = _transition_floor(hw, layer, spatial, remaining, passes, faces)
        name = "compute + register reloads between passes"
        if named and faces[Operand.W].serial and transitions > 0:
            # The same floor for a macro that could be double-buffered (no weight term, which
            # only adds): the difference is what the real macro's weight writes add.
            overlapped = {**faces, Operand.W: replace(faces[Operand.W], serial=False)}
            without = _transition_floor(hw, layer, spatial, remaining, passes, overlapped)
            if transitions - without >= WEIGHT_SHARE_NAMED * (compute + transitions):
                name += " and weight writes into the macro"
        terms[name] = compute + transitions
    op = max(OPERANDS, key=lambda o: faces[o].volume_cycles)
    terms[f"{_INTERFACE_TRAFFIC[op]} bandwidth"] = float(faces[op].volume_cycles)
    for op, cycles in dram_floor_cycles(hw, layer).items():
        terms[f"DRAM bandwidth ({op.value})"] = float(cycles)
    return terms


def latency_floor_terms(
    hw: Hardware, layer: Layer, spatial: tuple[tuple[Axis, Dim, int], ...]
) -> dict[str, float]:
    """The named floors whose largest is the latency bound of `candidate(hw, layer, spatial)`
    (what binds a layer's bound, in words an architect reads)."""
    remaining = _remaining(layer, spatial)
    faces, premise = _interfaces(hw, layer, spatial, remaining)
    return _latency_terms(hw, layer, spatial, remaining, faces, premise, named=True)


def candidate(
    hw: Hardware, layer: Layer, spatial: tuple[tuple[Axis, Dim, int], ...], quick: bool = False
) -> SpatialCandidate:
    """Bounds and utilization of one spatial unrolling (assumed legal).

    `quick`: only the compute, DRAM and MAC-energy floors (latency >= max(t_MAC x passes, DRAM
    floors), energy >= MAC + DRAM floor energy + leakage over that latency, EDP >= their
    product): each is a term of the full bound's maximum or sum (whose other terms are
    non-negative), so it never exceeds the full bound."""
    remaining = _remaining(layer, spatial)
    passes = math.prod(remaining.values())
    t_mac = hw.macro.pass_cycles(layer.input_bits)
    cores = math.prod(f for a, _, f in spatial if a is Axis.CORES)
    energy = mac_energy_pj(hw, layer, passes, cores) + dram_floor_energy_pj(hw, layer)
    if quick:
        latency = max(t_mac * passes, *dram_floor_cycles(hw, layer).values())
    else:
        faces, premise = _interfaces(hw, layer, spatial, remaining)
        latency = max(_latency_terms(hw, layer, spatial, remaining, faces, premise).values())
        registers = (
            _register_traffic_floor(hw, layer, spatial, remaining, passes) if premise else 0.0
        )
        energy = (
            energy
            + faces[Operand.W].energy_pj
            + max(faces[Operand.I].energy_pj + faces[Operand.O].energy_pj, registers)
        )
    used = math.prod(f for _, _, f in spatial)
    return SpatialCandidate(
        spatial=spatial,
        temporal=tuple((d, remaining[d]) for d in DIMS if remaining[d] > 1),
        utilization=used / (hw.cores * hw.macro.rows * hw.macro.columns),
        latency_bound_cycles=float(latency),
        energy_bound_pj=energy + hw.leakage_pj_per_cycle * latency,
    )


def spatial_candidates(
    hw: Hardware,
    layer: Layer,
    objective: str = "latency",
    cutoff: float = math.inf,
    twins: bool = False,
) -> list[SpatialCandidate]:
    """Every legal spatial unrolling, best utilization first (ties: lower latency bound, then
    fewer temporal loops). Of two unrollings that are each other's transpose on a layer whose
    rows and columns may be swapped (`transpose_symmetric`), only the first in `_spatial_order`
    is listed unless `twins`: the other has the same optimum and bounds (module docstring).

    A candidate whose quick floor for `objective` (`candidate(..., quick=True)`) exceeds `cutoff`
    keeps that floor instead of the full bounds of `candidate`: a search that knows a mapping of
    value `cutoff` never searches it, and its floor, still a proven bound, is above any
    answer such a search reports."""
    per_dim = [list(_dim_splits(hw, dim, layer.size(dim))) for dim in DIMS]
    one_of_twins = not twins and transpose_symmetric(hw, layer)
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
                key=_spatial_order,
            )
        )  # fmt: skip
        if one_of_twins and [*map(_spatial_order, transposed(spatial))] < [
            *map(_spatial_order, spatial)
        ]:
            continue  # its transpose, listed instead, has the same optimum and bounds
        quick = candidate(hw, layer, spatial, quick=True)
        found.append(quick if quick.bound(objective) > cutoff else candidate(hw, layer, spatial))
    found.sort(key=lambda c: (-c.utilization, c.latency_bound_cycles, len(c.temporal)))
    return found
