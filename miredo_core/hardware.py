"""Hardware: a multi-core SRAM computing-in-memory accelerator as frozen dataclasses.

Hierarchy (outermost first), with the operands each level holds:

    dram            I W O   one, shared by everything (off-chip)
    global_buffer   I W O   one, shared by all cores; capacity counts I + W + O together
    input_buffer    I       one per core
    output_buffer   O       one per core
    input_register  I       one per macro row of each core; feeds the row bit-serially
    output_register O       one per macro column of each core; accumulates in place
    macro           W       one cell per (core, row, column); a cell stores `compartment_depth`
                            weights (the storage-to-compute ratio) and computes on one of them

Spatial axes: `cores` (dims P, Q, K, G, N by default), macro `rows` (the reduction: R, S, C) and
macro `columns` (K). Inputs are broadcast along a row's columns, outputs are reduced along a
column's rows in the adder tree.

Units are in field names. Sizes and bandwidths are per instance of a level; `area_mm2` and
`leakage_pj_per_cycle` too (totals are derived by multiplying with the instance count).
"""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass

from miredo_core.workload import Dim, Operand


class Level(enum.StrEnum):
    DRAM = "dram"
    GLOBAL_BUFFER = "global_buffer"
    INPUT_BUFFER = "input_buffer"
    OUTPUT_BUFFER = "output_buffer"
    INPUT_REGISTER = "input_register"
    OUTPUT_REGISTER = "output_register"
    MACRO = "macro"


class Axis(enum.StrEnum):
    CORES = "cores"
    ROWS = "rows"
    COLUMNS = "columns"


AXES: tuple[Axis, ...] = tuple(Axis)

#: The memory levels each operand can live in, outermost first. The last one is the operand's
#: compute interface and is always used; DRAM is always the home of every operand.
OPERAND_LEVELS: dict[Operand, tuple[Level, ...]] = {
    Operand.I: (Level.DRAM, Level.GLOBAL_BUFFER, Level.INPUT_BUFFER, Level.INPUT_REGISTER),
    Operand.W: (Level.DRAM, Level.GLOBAL_BUFFER, Level.MACRO),
    Operand.O: (Level.DRAM, Level.GLOBAL_BUFFER, Level.OUTPUT_BUFFER, Level.OUTPUT_REGISTER),
}

#: For each spatial axis and operand: the deepest level (index into OPERAND_LEVELS) that still
#: holds the data of every instance along the axis. Levels deeper than it are replicated once per
#: instance. An operand that is broadcast (I along columns) or reduced (O along rows) across an
#: axis is never replicated along it: every level spans the axis.
AXIS_SOURCE_DEPTH: dict[Axis, dict[Operand, int]] = {
    Axis.CORES: {Operand.I: 1, Operand.W: 1, Operand.O: 1},
    Axis.ROWS: {Operand.I: 2, Operand.W: 1, Operand.O: 3},
    Axis.COLUMNS: {Operand.I: 3, Operand.W: 1, Operand.O: 2},
}

#: Dims each axis may unroll physically (a configuration may narrow these, never widen them).
AXIS_ALLOWED_DIMS: dict[Axis, frozenset[Dim]] = {
    Axis.CORES: frozenset({Dim.P, Dim.Q, Dim.K, Dim.G, Dim.N}),
    Axis.ROWS: frozenset({Dim.R, Dim.S, Dim.C}),
    Axis.COLUMNS: frozenset({Dim.K}),
}


@dataclass(frozen=True)
class MemoryLevel:
    """One memory level, per instance."""

    size_bits: int
    read_bw_bits_per_cycle: float
    write_bw_bits_per_cycle: float
    read_energy_pj_per_bit: float
    write_energy_pj_per_bit: float
    area_mm2: float = 0.0
    leakage_pj_per_cycle: float = 0.0


@dataclass(frozen=True)
class Macro:
    """A digital SRAM-CIM macro: `rows` x `columns` compute cells, each storing
    `compartment_depth` weights of `weight_bits` and multiplying one of them per bit-serial pass.

    Energies of the logic are per 1-bit operation (reference section 2.1); the macro activation
    energy per bit-serial pass is derived from them in `activation_energy_pj`.
    """

    rows: int
    columns: int
    compartment_depth: int
    weight_bits: int = 8
    input_bits_per_cycle: int = 1
    psum_bits: int = 16
    ping_pong: bool = False
    """Weight double buffering: a tile can be written while another is used for compute."""
    write_bw_bits_per_cycle: float = 8.0
    """Per cell."""
    write_energy_pj_per_bit: float = 0.02575
    multiplier_energy_pj_per_bit: float = 0.0002835
    adder_energy_pj_per_bit: float = 0.003402
    register_energy_pj_per_bit: float = 0.001701
    area_mm2: float = 0.0
    """Per macro (one macro per core)."""
    leakage_pj_per_cycle: float = 0.0
    """Per macro."""

    @property
    def cell_bits(self) -> int:
        return self.compartment_depth * self.weight_bits

    def pass_cycles(self, input_bits: int) -> int:
        """Cycles of one bit-serial matrix-vector pass (t_MAC)."""
        return math.ceil(input_bits / self.input_bits_per_cycle)

    def activation_energy_pj(self, input_bits: int) -> float:
        """Energy of one bit-serial pass of the whole array of one core (e_MAC).

        Array of 1-bit x weight multipliers, the column adder trees over the rows, and the
        shift-and-add merge of each column's partial products into a psum register, each paid on
        every one of the t_MAC cycles.
        """
        cycles = self.pass_cycles(input_bits)
        weight = self.weight_bits
        array = self.multiplier_energy_pj_per_bit * weight * self.rows * self.columns * cycles
        tree_bits = self.rows * (weight + 1) - (weight + math.ceil(math.log2(weight)) + 1) * (
            self.columns
        )
        tree = self.adder_energy_pj_per_bit * max(tree_bits, 0) * cycles
        merge_bits = input_bits + weight + math.ceil(math.log2(max(self.rows, 1)))
        merge = (
            (self.adder_energy_pj_per_bit + self.register_energy_pj_per_bit)
            * merge_bits
            * cycles
            * self.columns
        )
        return array + tree + merge

    @functools.cached_property
    def memory_level(self) -> MemoryLevel:
        """The macro seen as the weight memory of one cell. Reading it is computing (free).
        Built once: bounds and searches ask for it hundreds of thousands of times."""
        return MemoryLevel(
            size_bits=self.cell_bits,
            read_bw_bits_per_cycle=math.inf,
            write_bw_bits_per_cycle=self.write_bw_bits_per_cycle,
            read_energy_pj_per_bit=0.0,
            write_energy_pj_per_bit=self.write_energy_pj_per_bit,
        )


@dataclass(frozen=True)
class Hardware:
    name: str
    cores: int
    dram: MemoryLevel
    global_buffer: MemoryLevel
    input_buffer: MemoryLevel
    output_buffer: MemoryLevel
    input_register: MemoryLevel
    output_register: MemoryLevel
    macro: Macro
    core_dims: frozenset[Dim] = AXIS_ALLOWED_DIMS[Axis.CORES]
    row_dims: frozenset[Dim] = AXIS_ALLOWED_DIMS[Axis.ROWS]
    column_dims: frozenset[Dim] = AXIS_ALLOWED_DIMS[Axis.COLUMNS]
    description: str = ""

    def memory(self, level: Level) -> MemoryLevel:
        if level is Level.MACRO:
            return self.macro.memory_level
        return getattr(self, level)  # a StrEnum member is its field name

    def axis_size(self, axis: Axis) -> int:
        return {
            Axis.CORES: self.cores,
            Axis.ROWS: self.macro.rows,
            Axis.COLUMNS: self.macro.columns,
        }[axis]

    def axis_dims(self, axis: Axis) -> frozenset[Dim]:
        return {
            Axis.CORES: self.core_dims,
            Axis.ROWS: self.row_dims,
            Axis.COLUMNS: self.column_dims,
        }[axis]

    def level_instances(self, level: Level) -> int:
        """Physical instances of a level in the whole accelerator."""
        if level in (Level.DRAM, Level.GLOBAL_BUFFER):
            return 1
        if level in (Level.INPUT_BUFFER, Level.OUTPUT_BUFFER):
            return self.cores
        if level is Level.INPUT_REGISTER:
            return self.cores * self.macro.rows
        if level is Level.OUTPUT_REGISTER:
            return self.cores * self.macro.columns
        return self.cores * self.macro.rows * self.macro.columns

    # ------------------------------------------------------------ derived figures
    def peak_macs_per_cycle(self, input_bits: int = 8) -> float:
        return (
            self.cores * self.macro.rows * self.macro.columns / self.macro.pass_cycles(input_bits)
        )

    @property
    def on_chip_sram_bits(self) -> int:
        per_core = (
            self.input_buffer.size_bits
            + self.output_buffer.size_bits
            + self.macro.rows * self.macro.columns * self.macro.cell_bits
        )
        return self.global_buffer.size_bits + self.cores * per_core

    @property
    def area_mm2(self) -> float:
        """Chip area: every on-chip level's area times its instances, plus the macros."""
        total = sum(
            self.memory(level).area_mm2 * self.level_instances(level)
            for level in Level
            if level not in (Level.DRAM, Level.MACRO)
        )
        return total + self.macro.area_mm2 * self.cores

    @property
    def leakage_pj_per_cycle(self) -> float:
        """Static power of the whole accelerator (DRAM's own figure included)."""
        total = sum(
            self.memory(level).leakage_pj_per_cycle * self.level_instances(level)
            for level in Level
            if level is not Level.MACRO
        )
        return total + self.macro.leakage_pj_per_cycle * self.cores
