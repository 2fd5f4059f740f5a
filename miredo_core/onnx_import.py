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
import stat
from typing import Any

import onnx
from google.protobuf.message import DecodeError
from onnx import checker, inliner, shape_inference

from miredo_core.onnx_layers import (
    Shape,
    conv_node_layer,
    gemm_node_layer,
    matmul_node_layer,
)
from miredo_core.onnx_ops import CONTROL_FLOW_OPS, CONV_OPS, MATMUL_OPS, UNSUPPORTED_MAC_OPS
from miredo_core.workload import Layer, Network, SkippedNode, WorkloadError

logger = logging.getLogger(__name__)

#: Largest ONNX file read: protobuf cannot parse a message of 2 GiB or more. Weights stored as
#: external data are never read, so a large model stays well below it.
MAX_ONNX_BYTES = 2**31 - 1
_STANDARD_DOMAINS = frozenset({"", "ai.onnx"})


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
        _check_file(path)
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


def _check_file(path: pathlib.Path) -> None:
    """A regular file within MAX_ONNX_BYTES; a device (/dev/zero) or a directory would make
    the protobuf reader read forever or fail obscurely."""
    try:
        info = path.stat()
    except OSError as error:
        raise WorkloadError(f"cannot read ONNX file {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        raise WorkloadError(f"{path} is not a regular file; give the path of an .onnx file")
    if info.st_size > MAX_ONNX_BYTES:
        raise WorkloadError(
            f"{path} is {info.st_size:,} bytes, above the {MAX_ONNX_BYTES:,}-byte limit of an "
            "ONNX model (protobuf's own limit); export it with external data"
        )


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
    """Shapes of every intermediate tensor; data propagation resolves Shape->Reshape chains."""
    try:
        return shape_inference.infer_shapes(model, data_prop=True)
    except (shape_inference.InferenceError, checker.ValidationError, ValueError) as error:
        logger.warning("ONNX shape inference failed (%s); using the stored shapes only", error)
        return model


def _tensor_shape(info: onnx.ValueInfoProto) -> Shape | None:
    if not info.type.HasField("tensor_type") or not info.type.tensor_type.HasField("shape"):
        return None
    dims: list[int | str | None] = []
    for dim in info.type.tensor_type.shape.dim:
        which = dim.WhichOneof("value")
        dims.append(dim.dim_value if which == "dim_value" else dim.dim_param or None)
    return tuple(dims)


def _collect_shapes(graph: onnx.GraphProto) -> dict[str, Shape]:
    """Every known tensor shape; initializer dims win because they are metadata, not data."""
    shapes: dict[str, Shape] = {}
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


def _map_node(node: onnx.NodeProto, name: str, shapes: dict[str, Shape]) -> Layer | SkippedNode:
    if node.domain in _STANDARD_DOMAINS:
        if node.op_type in CONV_OPS:
            return conv_node_layer(node, name, shapes)
        if node.op_type == "Gemm":
            return gemm_node_layer(node, name, shapes)
        if node.op_type in MATMUL_OPS:
            return matmul_node_layer(node, name, shapes)
    return SkippedNode(name, node.op_type, _skip_reason(node))


def _skip_reason(node: onnx.NodeProto) -> str:
    if node.domain not in _STANDARD_DOMAINS:
        return f"operator {node.domain}.{node.op_type} is outside the standard ONNX domain"
    if node.op_type in UNSUPPORTED_MAC_OPS:
        return f"MAC operator {node.op_type} is not supported by the importer"
    if node.op_type in CONTROL_FLOW_OPS:
        return f"control flow ({node.op_type}): layers inside its subgraphs are not imported"
    return f"not a MAC layer ({node.op_type})"
