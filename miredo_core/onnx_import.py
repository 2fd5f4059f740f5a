"""Import an ONNX model as a `Network`, reading shapes only and never executing anything.

Only `onnx` is used and weights are never loaded, so a model whose external-data files are
missing still imports: dims come from initializer `dims` metadata and `onnx.shape_inference`.
Mapping (reference section 1.1):

* Conv / ConvInteger / QLinearConv: weight [K*G, C/G, R, S] with `group`, `strides`, `pads`
  [top, left, bottom, right], `dilations` and `auto_pad` resolved exactly; 1-D convs get height 1.
* Gemm (transA / transB honoured, bias ignored) and MatMul / MatMulInteger / QLinearMatMul: a
  1x1 layer whose right operand is the stored weight. A leading axis where B has extent 1 reuses
  one weight slice, so it folds into P; any other leading axis is an independent product and
  multiplies G (only A has leading dims -> P, only B -> G, both -> G = broadcast product).
* Every other node goes to `Network.skipped` with its reason, never silently dropped.

A dynamic axis 0 of an activation (the batch axis by convention) is taken as batch 1; any other
dynamic dim a layer needs is an error. Precisions stay at the `Layer` defaults: the model's float
type says nothing about the accelerator's quantized precision.
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any, NamedTuple

import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, checker, helper, inliner, shape_inference

from miredo_core.workload import Layer, Network, SkippedNode, WorkloadError, matmul_layer

logger = logging.getLogger(__name__)

#: A tensor shape: an int per static axis, the dim_param name per symbolic axis, None if unknown.
_Shape = tuple[int | str | None, ...]

#: Mapped operators and the input positions of (activation, weight); the quantized variants
#: carry scale and zero-point inputs in between.
_CONV_OPS = {"Conv": (0, 1), "ConvInteger": (0, 1), "QLinearConv": (0, 3)}
_MATMUL_OPS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}
#: Operators that do multiply-accumulate work this importer cannot express as a conv nest.
_UNSUPPORTED_MAC_OPS = frozenset(
    {"ConvTranspose", "DeformConv", "Einsum", "LSTM", "GRU", "RNN", "Attention"}
)
_CONTROL_FLOW_OPS = frozenset({"If", "Loop", "Scan"})
_STANDARD_DOMAINS = frozenset({"", "ai.onnx"})
_INT, _INTS, _STRING = AttributeProto.INT, AttributeProto.INTS, AttributeProto.STRING


def import_onnx(source: str | pathlib.Path | bytes, name: str | None = None) -> Network:
    """The MAC layers of an ONNX model (a file path or the serialized bytes), in graph order.

    `name` defaults to the file stem, else the graph name. A dynamic batch axis is taken as
    batch 1. Raises WorkloadError for unreadable or non-ONNX input, for a model with no Conv,
    Gemm or MatMul layer, and for a layer whose dims cannot be determined statically.
    """
    model, default_name = _load_model(source)
    model = _infer_shapes(_inline_local_functions(model))
    graph = model.graph
    shapes = _collect_shapes(graph)
    layers: list[Layer] = []
    skipped: list[SkippedNode] = []
    for node, node_name in zip(graph.node, _node_names(graph.node), strict=True):
        mapped = _map_node(node, node_name, shapes)
        if isinstance(mapped, Layer):
            layers.append(mapped)
        else:
            skipped.append(mapped)
    network_name = name or default_name or graph.name or "onnx_model"
    if not layers:
        operators = ", ".join(sorted({node.op_type for node in skipped})) or "none"
        raise WorkloadError(
            f"ONNX model {network_name!r} has no Conv, Gemm or MatMul layer to map "
            f"(operators found: {operators})"
        )
    return Network(network_name, tuple(layers), tuple(skipped))


# --------------------------------------------------------------------------- loading


def _load_model(source: str | pathlib.Path | bytes) -> tuple[onnx.ModelProto, str]:
    """Parse without touching external data, so no file other than `source` is ever opened."""
    if isinstance(source, bytes | bytearray | memoryview):
        where, default_name = "the given bytes", ""
        try:
            model = onnx.load_from_string(bytes(source))
        except DecodeError as error:
            raise WorkloadError(f"{where} are not an ONNX model ({error})") from None
    else:
        path = pathlib.Path(source)
        where, default_name = str(path), path.stem
        try:
            # format="protobuf": never dispatch on the suffix to the text or JSON parsers.
            model = onnx.load(path, format="protobuf", load_external_data=False)
        except OSError as error:
            reason = error.strerror or error
            raise WorkloadError(f"cannot read ONNX file {path}: {reason}") from None
        except DecodeError as error:
            raise WorkloadError(f"{path} is not an ONNX model ({error})") from None
    # An empty or unrelated protobuf can parse as a ModelProto with nothing in it.
    if not model.HasField("graph") or not model.graph.node:
        raise WorkloadError(f"{where}: not an ONNX model or an ONNX model with an empty graph")
    # protobuf hands back bytes for string fields that are not valid UTF-8 (a corrupt file).
    for index, node in enumerate(model.graph.node):
        texts = (model.graph.name, node.name, node.op_type, node.domain, *node.input, *node.output)
        if not all(isinstance(text, str) for text in texts):
            raise WorkloadError(f"{where}: node {index} has names that are not valid UTF-8")
    return model, default_name


def _inline_local_functions(model: onnx.ModelProto) -> onnx.ModelProto:
    """Exporters (torch.onnx dynamo) wrap modules in model-local functions; inline them so the
    convolutions inside become graph nodes instead of opaque calls."""
    if not model.functions:
        return model
    try:
        return inliner.inline_local_functions(model)
    except (RuntimeError, ValueError) as error:
        logger.warning("could not inline the model's local functions (%s)", error)
        return model


def _infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shapes of every intermediate tensor; data propagation resolves _Shape->Reshape chains."""
    try:
        return shape_inference.infer_shapes(model, data_prop=True)
    except (shape_inference.InferenceError, checker.ValidationError, ValueError) as error:
        logger.warning("ONNX shape inference failed (%s); using the stored shapes only", error)
        return model


def _tensor_shape(info: onnx.ValueInfoProto) -> _Shape | None:
    if not info.type.HasField("tensor_type") or not info.type.tensor_type.HasField("shape"):
        return None
    dims: list[int | str | None] = []
    for dim in info.type.tensor_type.shape.dim:
        which = dim.WhichOneof("value")
        dims.append(dim.dim_value if which == "dim_value" else dim.dim_param or None)
    return tuple(dims)


def _collect_shapes(graph: onnx.GraphProto) -> dict[str, _Shape]:
    """Every known tensor shape; initializer dims win because they are metadata, not data."""
    shapes: dict[str, _Shape] = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        shape = _tensor_shape(info)
        if shape is not None:
            shapes[info.name] = shape
    for tensor in graph.initializer:
        shapes[tensor.name] = tuple(tensor.dims)
    for sparse in graph.sparse_initializer:
        shapes[sparse.values.name] = tuple(sparse.dims)
    return shapes


def _node_names(nodes: Any) -> list[str]:
    """Unique layer names: the node name, else `<op_type>_<n>` counted per operator type."""
    reserved = {node.name for node in nodes if node.name}
    used: set[str] = set()
    counters: dict[str, int] = {}
    names = []
    for node in nodes:
        base = node.name
        while not base:
            index = counters.get(node.op_type, 0)
            counters[node.op_type] = index + 1
            candidate = f"{node.op_type}_{index}"
            base = "" if candidate in reserved else candidate
        unique, suffix = base, 1
        while unique in used:
            suffix += 1
            unique = f"{base}_{suffix}"
        used.add(unique)
        names.append(unique)
    return names


# --------------------------------------------------------------------------- mapping


def _map_node(node: onnx.NodeProto, name: str, shapes: dict[str, _Shape]) -> Layer | SkippedNode:
    if node.domain in _STANDARD_DOMAINS:
        if node.op_type in _CONV_OPS:
            return _conv_layer(node, name, shapes)
        if node.op_type == "Gemm":
            return _gemm_layer(node, name, shapes)
        if node.op_type in _MATMUL_OPS:
            return _matmul_layer(node, name, shapes)
    return SkippedNode(name, node.op_type, _skip_reason(node))


def _skip_reason(node: onnx.NodeProto) -> str:
    if node.domain not in _STANDARD_DOMAINS:
        return f"operator {node.domain}.{node.op_type} is outside the standard ONNX domain"
    if node.op_type in _UNSUPPORTED_MAC_OPS:
        return f"MAC operator {node.op_type} is not supported by the importer"
    if node.op_type in _CONTROL_FLOW_OPS:
        return f"control flow ({node.op_type}): layers inside its subgraphs are not imported"
    return f"not a MAC layer ({node.op_type})"


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
    shapes: dict[str, _Shape], tensor: str, label: str, batch_rank: int | None = None
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
    shapes: dict[str, _Shape], node: onnx.NodeProto, expected: _Shape, label: str
) -> None:
    """_Shape inference and our own arithmetic must agree; a mismatch means we misread the node."""
    inferred = shapes.get(node.output[0]) if node.output else None
    if inferred is None or len(inferred) != len(expected):
        return
    for axis, (got, want) in enumerate(zip(inferred, expected, strict=True)):
        if isinstance(got, int) and got > 0 and want is not None and got != want:
            raise WorkloadError(
                f"{label}: output axis {axis} is {got} in the model but the attributes give {want}"
            )


def _conv_layer(node: onnx.NodeProto, name: str, shapes: dict[str, _Shape]) -> Layer | SkippedNode:
    label = f"{node.op_type} node {name!r}"
    activation_index, weight_index = _CONV_OPS[node.op_type]
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


def _gemm_layer(node: onnx.NodeProto, name: str, shapes: dict[str, _Shape]) -> Layer:
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


def _matmul_layer(node: onnx.NodeProto, name: str, shapes: dict[str, _Shape]) -> Layer:
    """numpy-style MatMul A[..., M, K] . B[..., K, N] with B as the stored operand."""
    label = f"{node.op_type} node {name!r}"
    a_index, b_index = _MATMUL_OPS[node.op_type]
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
