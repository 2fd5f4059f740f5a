"""The ONNX operator vocabulary of the importer, without importing `onnx` itself.

`onnx` costs about two CPU seconds to import, so what the CLI and the reports need to know
about an imported model's nodes (which skipped nodes carried multiply-accumulate work) lives
here, and only reading an .onnx file (`onnx_import`) pays for the library.
"""

from __future__ import annotations

from collections.abc import Iterable

from miredo_core.workload import SkippedNode

#: Mapped operators and the input positions of (activation, weight); the quantized variants
#: carry scale and zero-point inputs in between.
CONV_OPS = {"Conv": (0, 1), "ConvInteger": (0, 1), "QLinearConv": (0, 3)}
MATMUL_OPS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}
#: Operators that do multiply-accumulate work the importer cannot express as a conv nest.
UNSUPPORTED_MAC_OPS = frozenset(
    {"ConvTranspose", "DeformConv", "Einsum", "LSTM", "GRU", "RNN", "Attention"}
)
#: Operators whose subgraphs may hold any work.
CONTROL_FLOW_OPS = frozenset({"If", "Loop", "Scan"})
#: Operators whose skipping leaves multiply-accumulate work out of the mapped network (a
#: skipped Relu or Add loses nothing the accelerator would run).
MAC_WORK_OPS = frozenset({*CONV_OPS, *MATMUL_OPS, "Gemm", *UNSUPPORTED_MAC_OPS, *CONTROL_FLOW_OPS})


def skipped_work(nodes: Iterable[SkippedNode]) -> list[SkippedNode]:
    """The skipped nodes that carry MAC work (or may, inside a control-flow subgraph)."""
    return [node for node in nodes if node.op_type in MAC_WORK_OPS]
