"""Workloads: one 8-dimensional loop nest per layer.

Every layer is a (grouped, batched) convolution over the dims

    R, S  kernel height / width          P, Q  output height / width
    C     input channels per group       K     output channels per group
    G     groups (depthwise: C = K = 1)  N     batch

MatMul / Gemm layers map to 1x1 convolutions (R = S = Q = 1, P = rows of the left operand,
C = reduction, K = columns of the stored right operand); attention products use G for heads.

A layer is validated on construction and never altered: the output size must follow from the
input size, kernel, stride, padding and dilation exactly as a framework computes it.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class WorkloadError(ValueError):
    """A layer or network description that cannot be used; the message says what to change.

    `problems` holds one (field, message) pair per bad field of a layer when the error comes
    from `Layer` validation (empty otherwise), so a configuration loader can point at each.
    """

    def __init__(self, message: str, problems: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)

    def __reduce__(self) -> tuple:
        return (WorkloadError, (str(self), self.problems))


#: Largest value of any integer field of a layer (dims, strides, padding, sizes, precisions):
#: 2**31 - 1, far beyond any real network (the largest dims in use are vocabularies of a few
#: hundred thousand), and small enough that factoring a dim by trial division stays instant.
MAX_DIM_SIZE = 2**31 - 1


class Dim(enum.StrEnum):
    R = "R"
    S = "S"
    P = "P"
    Q = "Q"
    C = "C"
    K = "K"
    G = "G"
    N = "N"


class Operand(enum.StrEnum):
    I = "I"  # noqa: E741 - the conventional operand name (input activations)
    W = "W"
    O = "O"


DIMS: tuple[Dim, ...] = tuple(Dim)
OPERANDS: tuple[Operand, ...] = tuple(Operand)

#: Which loop dims index each operand. A loop over an irrelevant dim reuses the operand's tile.
RELEVANT: dict[Operand, frozenset[Dim]] = {
    Operand.I: frozenset({Dim.R, Dim.S, Dim.P, Dim.Q, Dim.C, Dim.G, Dim.N}),
    Operand.W: frozenset({Dim.R, Dim.S, Dim.C, Dim.K, Dim.G}),
    Operand.O: frozenset({Dim.P, Dim.Q, Dim.K, Dim.G, Dim.N}),
}

#: Dims summed over to produce one output: a loop over them above an output level makes psums.
REDUCTION_DIMS: frozenset[Dim] = frozenset({Dim.R, Dim.S, Dim.C})


def is_relevant(operand: Operand, dim: Dim) -> bool:
    return dim in RELEVANT[operand]


@functools.lru_cache(maxsize=65536)
def window_extent(outputs: int, taps: int, stride: int, dilation: int) -> int:
    """Number of distinct input positions touched by `outputs` consecutive output positions and
    `taps` consecutive kernel taps: |{o*stride + k*dilation : 0 <= o < outputs, 0 <= k < taps}|.

    Exact for any stride (when the stride exceeds the kernel the touched rows are not contiguous,
    so the naive (outputs-1)*stride + taps over-counts) and, with dilation, for up to 2**20
    (output, tap) pairs; beyond that the interval length is an upper bound.
    """
    if outputs <= 0 or taps <= 0:
        return 0
    if dilation == 1:
        # Windows of `taps` contiguous rows start every `stride` rows: they overlap (or touch)
        # when stride <= taps, giving one run; otherwise they are disjoint.
        return (outputs - 1) * min(stride, taps) + taps
    if outputs * taps <= 1 << 20:
        return len({o * stride + k * dilation for o in range(outputs) for k in range(taps)})
    # Very large extents with dilation: the union is an interval minus the holes of the first
    # and last windows, bounded above by the interval length.
    return min(outputs * taps, (outputs - 1) * stride + (taps - 1) * dilation + 1)


_POSITIVE_FIELDS = (
    "R", "S", "P", "Q", "C", "K", "G", "N", "stride_h", "stride_w", "dilation_h", "dilation_w",
    "input_bits", "weight_bits", "output_bits",
)  # fmt: skip
_NON_NEGATIVE_FIELDS = ("pad_top", "pad_bottom", "pad_left", "pad_right", "input_h", "input_w")


def layer_field_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) for every integer layer field in `values` that is out of range: dims,
    strides, dilations and precisions in [1, MAX_DIM_SIZE], padding and input sizes in
    [0, MAX_DIM_SIZE]. Fields not in `values` are not checked."""
    problems = []
    for name, value in values.items():
        if name not in _POSITIVE_FIELDS and name not in _NON_NEGATIVE_FIELDS:
            continue
        low = 1 if name in _POSITIVE_FIELDS else 0
        kind = "a positive" if low else "a non-negative"
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            problems.append((name, f"{name} must be {kind} integer, got {_shown(value)}"))
        elif value > MAX_DIM_SIZE:
            problems.append((name, f"{name} is {_shown(value)}, above the maximum {MAX_DIM_SIZE}"))
    return problems


def _shown(value: Any) -> str:
    """A short rendering of a possibly huge value (repr of a 5,000-digit int would fail)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**12:
        if value.bit_length() > 1000:
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
        return f"{value:.3e}"
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


class _AxisFields(NamedTuple):
    """The field names of one spatial axis of a layer, in `_resolve_axis` order."""

    label: str
    fields: tuple[str, ...]

    @property
    def output(self) -> str:
        return self.fields[0]

    @property
    def input(self) -> str:
        return self.fields[-1]


_HEIGHT = _AxisFields(
    "height", ("P", "R", "stride_h", "dilation_h", "pad_top", "pad_bottom", "input_h")
)
_WIDTH = _AxisFields(
    "width", ("Q", "S", "stride_w", "dilation_w", "pad_left", "pad_right", "input_w")
)


@dataclass(frozen=True)
class Layer:
    """One layer as a convolution nest. Precisions are in bits; sizes in elements."""

    name: str
    R: int = 1
    S: int = 1
    P: int = 1
    Q: int = 1
    C: int = 1
    K: int = 1
    G: int = 1
    N: int = 1
    stride_h: int = 1
    stride_w: int = 1
    pad_top: int = 0
    pad_bottom: int = 0
    pad_left: int = 0
    pad_right: int = 0
    dilation_h: int = 1
    dilation_w: int = 1
    input_h: int = 0
    """Input height; 0 means the smallest input that yields P (no padding needed)."""
    input_w: int = 0
    input_bits: int = 8
    weight_bits: int = 8
    output_bits: int = 8
    kind: str = "conv"
    """Free-text origin of the layer (conv, depthwise, fc, matmul, ...); informational only."""

    def __post_init__(self) -> None:
        problems = layer_field_problems(
            {name: getattr(self, name) for name in _POSITIVE_FIELDS + _NON_NEGATIVE_FIELDS}
        )
        if not problems:
            problems = [
                problem
                for problem in (self._resolve_axis(_HEIGHT), self._resolve_axis(_WIDTH))
                if problem is not None
            ]
        if problems:
            raise WorkloadError(
                f"layer {self.name!r}: " + "; ".join(message for _, message in problems),
                problems=problems,
            )

    def _resolve_axis(self, axis: _AxisFields) -> tuple[str, str] | None:
        """Derive a zero input size of one axis, or check a given one; a problem or None."""
        out, kernel, stride, dil, pad_a, pad_b, given = (
            getattr(self, name) for name in axis.fields
        )
        footprint = dil * (kernel - 1) + 1
        if given == 0:
            needed = (out - 1) * stride + footprint - pad_a - pad_b
            if needed < 1:
                return axis.input, (
                    f"padding {pad_a}+{pad_b} leaves no input {axis.label}; "
                    f"give {axis.input} explicitly"
                )
            object.__setattr__(self, axis.input, needed)
            return None
        padded = given + pad_a + pad_b
        if padded < footprint:
            return axis.input, (
                f"kernel {axis.label} footprint {footprint} exceeds the padded input "
                f"{axis.label} {padded}"
            )
        expected = (padded - footprint) // stride + 1
        if expected != out:
            return axis.output, (
                f"output {axis.label} is {out} but input {axis.label} {given} with kernel "
                f"{kernel}, stride {stride}, padding {pad_a}+{pad_b}, dilation {dil} gives "
                f"{expected}; fix the output size or the input size"
            )
        return None

    # ----------------------------------------------------------------- shape
    @property
    def dims(self) -> dict[Dim, int]:
        return {d: getattr(self, d.value) for d in DIMS}

    def size(self, dim: Dim) -> int:
        return getattr(self, dim.value)

    @property
    def macs(self) -> int:
        return math.prod(self.dims.values())

    def precision_bits(self, operand: Operand) -> int:
        """Bits per element of an operand as stored off-chip (final outputs, not psums)."""
        if operand is Operand.I:
            return self.input_bits
        return self.weight_bits if operand is Operand.W else self.output_bits

    def tile_elements(self, operand: Operand, extent: dict[Dim, int]) -> int:
        """Elements of `operand` touched by a tile with the given per-dim extents.

        Input tiles use the exact halo of (P, R) and (Q, S), clipped to the input size.
        Missing dims count as extent 1.
        """
        e = extent.get
        if operand is Operand.W:
            return e(Dim.R, 1) * e(Dim.S, 1) * e(Dim.C, 1) * e(Dim.K, 1) * e(Dim.G, 1)
        if operand is Operand.O:
            return e(Dim.P, 1) * e(Dim.Q, 1) * e(Dim.K, 1) * e(Dim.G, 1) * e(Dim.N, 1)
        rows = min(window_extent(e(Dim.P, 1), e(Dim.R, 1), self.stride_h, self.dilation_h),
                   self.input_h)  # fmt: skip
        cols = min(window_extent(e(Dim.Q, 1), e(Dim.S, 1), self.stride_w, self.dilation_w),
                   self.input_w)  # fmt: skip
        return rows * cols * e(Dim.C, 1) * e(Dim.G, 1) * e(Dim.N, 1)

    def operand_elements(self, operand: Operand) -> int:
        """Elements of the whole operand tensor (the input without padding)."""
        if operand is Operand.I:
            return self.input_h * self.input_w * self.C * self.G * self.N
        return self.tile_elements(operand, self.dims)

    def operand_bits(self, operand: Operand) -> int:
        return self.operand_elements(operand) * self.precision_bits(operand)

    def shape_key(self) -> tuple:
        """Everything that determines the mapping problem (the name excluded)."""
        return tuple(
            getattr(self, f) for f in self.__dataclass_fields__ if f not in ("name", "kind")
        )

    def describe(self) -> str:
        dims = " ".join(f"{d.value}{v}" for d, v in self.dims.items() if v > 1)
        return f"{self.name}: {dims or 'scalar'} stride {self.stride_h}x{self.stride_w}"


@dataclass(frozen=True)
class SkippedNode:
    """A node of an imported model that is not mapped, and why."""

    name: str
    op_type: str
    reason: str


@dataclass(frozen=True)
class Network:
    """An ordered list of layers; each layer is mapped as an independent cold start."""

    name: str
    layers: tuple[Layer, ...]
    skipped: tuple[SkippedNode, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.layers:
            raise WorkloadError(f"network {self.name!r} has no layers to map")
        names = [layer.name for layer in self.layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise WorkloadError(f"network {self.name!r}: duplicate layer names {duplicates}")

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise WorkloadError(f"network {self.name!r} has no layer {name!r}")

    def distinct_layers(self) -> tuple[Layer, ...]:
        """The first layer of every distinct mapping problem (`Layer.shape_key`), in order."""
        seen: set[tuple] = set()
        first = []
        for layer in self.layers:
            if layer.shape_key() not in seen:
                seen.add(layer.shape_key())
                first.append(layer)
        return tuple(first)


def matmul_layer(
    name: str, rows: int, reduction: int, columns: int, groups: int = 1, kind: str = "matmul"
) -> Layer:
    """A MatMul / Gemm ``[rows x reduction] . [reduction x columns]`` as a 1x1 convolution.

    The right operand is the stored weight (what sits in the CIM array), so P = rows,
    C = reduction, K = columns, and G = independent products (heads) that share no operand.
    Lives here rather than in zoo.py because both the zoo and the ONNX importer build such
    layers, and the zoo also dispatches to the importer.
    """
    return Layer(
        name=name, P=rows, C=reduction, K=columns, G=groups, input_h=rows, input_w=1, kind=kind
    )
