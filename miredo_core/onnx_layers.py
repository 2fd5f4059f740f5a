"""Layer geometry of the mapped ONNX operators: Conv, Gemm and MatMul nodes to `Layer`s.

Shapes come from `onnx_import` (initializer dims and shape inference); every dim a layer needs
must be static and positive. Conventions are those of the ONNX operator specs (reference
section 1.1): conv weight [K*G, C/G, R, S], pads [top, left, bottom, right], SAME_* auto_pad with
the odd pad row at the end (UPPER) or the beginning (LOWER), Gemm transA / transB, numpy-style
MatMul broadcasting.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import onnx
from onnx import AttributeProto, helper

from miredo_core.onnx_ops import CONV_OPS, MATMUL_OPS
from miredo_core.workload import Layer, SkippedNode, WorkloadError, matmul_layer

#: A tensor shape: an int per static axis, the dim_param name per symbolic axis, None if unknown.
Shape = tuple[int | str | None, ...]

_INT, _INTS, _STRING = AttributeProto.INT, AttributeProto.INTS, AttributeProto.STRING


def _attribute(node: onnx.NodeProto, key: str, kind: int, default: Any, label: str) -> Any:
    """An attribute checked against the type the operator spec gives it (INTS as a list, STRING
    decoded), so a malformed model is reported instead of crashing the arithmetic."""
    for attribute in node.attribute:
        if attribute.name == key:
            if attribute.type != kind:
                expected = AttributeProto.AttributeType.Name(kind)
                raise WorkloadError(f"{label}: attribute {key!r} must be of type {expected}")
            value = helper.get_attribute_value(attribute)
            if kind == _STRING:
                return value.decode(errors="replace")
            return list(value) if kind == _INTS else value
    return default


def _input(node: onnx.NodeProto, index: int, label: str) -> str:
    if len(node.input) <= index or not node.input[index]:
        raise WorkloadError(f"{label}: input {index} is missing")
    return node.input[index]


def _static_shape(
    shapes: dict[str, Shape], tensor: str, label: str, batch_rank: int | None = None
) -> tuple[int, ...]:
    """The tensor's dims, all positive. Axis 0 is a batch axis, and a dynamic batch is taken
    as 1, only when the tensor has at least `batch_rank` axes; any other unknown dim is an
    error because guessing it would change the workload."""
    shape = shapes.get(tensor)
    if shape is None:
        raise WorkloadError(
            f"{label}: the shape of {tensor!r} is unknown; export the model with static shapes"
        )
    has_batch_axis = batch_rank is not None and len(shape) >= batch_rank
    dims = []
    for axis, size in enumerate(shape):
        if isinstance(size, int) and size > 0:
            dims.append(size)
        elif isinstance(size, int) and size <= 0:
            raise WorkloadError(
                f"{label}: invalid shape: axis {axis} of {tensor!r} is {size}, and a layer's "
                "tensor dims must be positive; fix the shape in the model"
            )
        elif axis == 0 and has_batch_axis and not isinstance(size, int):
            dims.append(1)
        else:
            what = f"dynamic ({size})" if isinstance(size, str) else size
            what = "unknown" if size is None else what
            raise WorkloadError(
                f"{label}: axis {axis} of {tensor!r} is {what}; export with static shapes"
            )
    return tuple(dims)


class _Axis(NamedTuple):
    """One spatial axis of a convolution, padding already resolved from auto_pad."""

    size_in: int
    kernel: int
    stride: int
    dilation: int
    pad_begin: int
    pad_end: int

    @property
    def size_out(self) -> int:
        footprint = self.dilation * (self.kernel - 1) + 1
        return (self.size_in + self.pad_begin + self.pad_end - footprint) // self.stride + 1


_UNIT_AXIS = _Axis(size_in=1, kernel=1, stride=1, dilation=1, pad_begin=0, pad_end=0)


def _conv_axes(
    node: onnx.NodeProto, sizes_in: tuple[int, ...], kernels: tuple[int, ...], label: str
) -> list[_Axis]:
    """Per spatial axis geometry; SAME_* padding as the ONNX spec defines it: output =
    ceil(input / stride), the odd pad row at the end (UPPER) or the beginning (LOWER)."""
    rank = len(kernels)
    strides = _attribute(node, "strides", _INTS, [1] * rank, label)
    dilations = _attribute(node, "dilations", _INTS, [1] * rank, label)
    pads = _attribute(node, "pads", _INTS, [0] * 2 * rank, label)
    auto_pad = _attribute(node, "auto_pad", _STRING, "NOTSET", label)
    kernel_shape = _attribute(node, "kernel_shape", _INTS, list(kernels), label)
    if kernel_shape != list(kernels):
        raise WorkloadError(f"{label}: kernel_shape {kernel_shape} disagrees with the weight")
    if len(strides) != rank or len(dilations) != rank or len(pads) != 2 * rank:
        raise WorkloadError(f"{label}: strides/dilations/pads do not match {rank} spatial axes")
    if min(strides + dilations) < 1 or min(pads) < 0:
        raise WorkloadError(f"{label}: strides and dilations must be >= 1 and pads >= 0")
    axes = []
    for i, (size_in, kernel, stride, dilation) in enumerate(
        zip(sizes_in, kernels, strides, dilations, strict=True)
    ):
        if auto_pad == "NOTSET":
            begin, end = pads[i], pads[i + rank]
        elif auto_pad == "VALID":
            begin, end = 0, 0
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            size_out = -(-size_in // stride)
            total = max(0, (size_out - 1) * stride + dilation * (kernel - 1) + 1 - size_in)
            small, large = total // 2, total - total // 2
            begin, end = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
        else:
            raise WorkloadError(f"{label}: unknown auto_pad {auto_pad!r}")
        axes.append(_Axis(size_in, kernel, stride, dilation, begin, end))
    return axes


def _check_inferred(
    shapes: dict[str, Shape], node: onnx.NodeProto, expected: Shape, label: str
) -> None:
    """Shape inference and our own arithmetic must agree; a mismatch means we misread the node."""
    inferred = shapes.get(node.output[0]) if node.output else None
    if inferred is None or len(inferred) != len(expected):
        return
    for axis, (got, want) in enumerate(zip(inferred, expected, strict=True)):
        if isinstance(got, int) and got > 0 and want is not None and got != want:
            raise WorkloadError(
                f"{label}: output axis {axis} is {got} in the model but the attributes give {want}"
            )


def conv_node_layer(
    node: onnx.NodeProto, name: str, shapes: dict[str, Shape]
) -> Layer | SkippedNode:
    label = f"{node.op_type} node {name!r}"
    activation_index, weight_index = CONV_OPS[node.op_type]
    weight = _static_shape(shapes, _input(node, weight_index, label), label)
    spatial_rank = len(weight) - 2
    if spatial_rank not in (1, 2):
        reason = f"{spatial_rank}-D convolution is not supported (only 1-D and 2-D)"
        return SkippedNode(name, node.op_type, reason)
    activation = _static_shape(shapes, _input(node, activation_index, label), label, batch_rank=3)
    if len(activation) != len(weight):
        raise WorkloadError(f"{label}: input rank {len(activation)} != weight rank {len(weight)}")
    groups = _attribute(node, "group", _INT, 1, label)
    if groups < 1 or weight[0] % groups or activation[1] != weight[1] * groups:
        raise WorkloadError(
            f"{label}: weight {list(weight)} with group {groups} does not fit "
            f"{activation[1]} input channels"
        )
    axes = _conv_axes(node, activation[2:], weight[2:], label)
    _check_inferred(shapes, node, (None, weight[0], *(axis.size_out for axis in axes)), label)
    height, width = axes if spatial_rank == 2 else (_UNIT_AXIS, axes[0])
    channels, filters = weight[1], weight[0] // groups
    depthwise = channels == 1 and filters == 1 and groups > 1
    return Layer(
        name=name, R=height.kernel, S=width.kernel, P=height.size_out, Q=width.size_out,
        C=channels, K=filters, G=groups, N=activation[0],
        stride_h=height.stride, stride_w=width.stride,
        pad_top=height.pad_begin, pad_bottom=height.pad_end,
        pad_left=width.pad_begin, pad_right=width.pad_end,
        dilation_h=height.dilation, dilation_w=width.dilation,
        input_h=height.size_in, input_w=width.size_in,
        kind="depthwise" if depthwise else "grouped_conv" if groups > 1 else "conv",
    )  # fmt: skip


def gemm_node_layer(node: onnx.NodeProto, name: str, shapes: dict[str, Shape]) -> Layer:
    """Y = op(A) . op(B) + C with op = transpose when transA / transB is set; B is stored."""
    label = f"{node.op_type} node {name!r}"
    trans_a = _attribute(node, "transA", _INT, 0, label)
    trans_b = _attribute(node, "transB", _INT, 0, label)
    # Without transA the rows of A are its axis 0, the batch of a fully connected layer.
    a = _static_shape(shapes, _input(node, 0, label), label, batch_rank=None if trans_a else 2)
    b = _static_shape(shapes, _input(node, 1, label), label)
    if len(a) != 2 or len(b) != 2:
        raise WorkloadError(f"{label}: Gemm operands must be 2-D, got {list(a)} and {list(b)}")
    rows, reduction = (a[1], a[0]) if trans_a else a
    reduction_b, columns = (b[1], b[0]) if trans_b else b
    if reduction != reduction_b:
        raise WorkloadError(f"{label}: reduction sizes differ ({reduction} vs {reduction_b})")
    _check_inferred(shapes, node, (None, columns), label)
    return matmul_layer(name, rows, reduction, columns, kind="gemm")


def matmul_node_layer(node: onnx.NodeProto, name: str, shapes: dict[str, Shape]) -> Layer:
    """numpy-style MatMul A[..., M, K] . B[..., K, N] with B as the stored operand."""
    label = f"{node.op_type} node {name!r}"
    a_index, b_index = MATMUL_OPS[node.op_type]
    a = _static_shape(shapes, _input(node, a_index, label), label, batch_rank=2)
    b = _static_shape(shapes, _input(node, b_index, label), label, batch_rank=3)
    # numpy promotion of 1-D operands: A [K] -> [1, K], B [K] -> [K, 1].
    a = (1, *a) if len(a) == 1 else a
    b = (*b, 1) if len(b) == 1 else b
    *a_leading, rows, reduction = a
    *b_leading, reduction_b, columns = b
    if reduction != reduction_b:
        raise WorkloadError(f"{label}: reduction sizes differ ({reduction} vs {reduction_b})")
    folded, groups = _split_leading_axes(tuple(a_leading), tuple(b_leading), label)
    return matmul_layer(name, rows * folded, reduction, columns, groups=groups, kind="matmul")


def _split_leading_axes(
    a_leading: tuple[int, ...], b_leading: tuple[int, ...], label: str
) -> tuple[int, int]:
    """(factor folded into P, G) for the broadcast leading axes of a MatMul.

    Where B has extent 1 the same weight slice serves every A slice along that axis, so those
    rows stack into one bigger product (P); elsewhere each slice of B is a separate stored
    matrix, an independent group (G).
    """
    rank = max(len(a_leading), len(b_leading))
    a_padded = (1,) * (rank - len(a_leading)) + a_leading
    b_padded = (1,) * (rank - len(b_leading)) + b_leading
    folded, groups = 1, 1
    for a_size, b_size in zip(a_padded, b_padded, strict=True):
        if a_size != b_size and 1 not in (a_size, b_size):
            raise WorkloadError(
                f"{label}: leading dims {list(a_leading)} and {list(b_leading)} do not broadcast"
            )
        if b_size == 1:
            folded *= a_size
        else:
            groups *= b_size
    return folded, groups
