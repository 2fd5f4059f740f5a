"""ONNX import on small models built in code with `onnx.helper` (no files from the repo)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from miredo_core.onnx_import import import_onnx
from miredo_core.workload import Layer, Network, WorkloadError
from miredo_core.zoo import get_network

Dims = Sequence[int | str | None] | None


def _value(name: str, shape: Dims, dtype: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
    extra_opsets: Sequence[tuple[str, int]] = (),
) -> onnx.ModelProto:
    """A one-graph model whose output is the last node's first output (shape left to infer)."""
    graph = helper.make_graph(
        nodes, "test_graph", inputs, [_value(nodes[-1].output[0], None)], list(initializers)
    )
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(*o) for o in extra_opsets]
    return helper.make_model(graph, opset_imports=opsets)


def _import(model: onnx.ModelProto, name: str | None = None) -> Network:
    return import_onnx(model.SerializeToString(), name=name)


def _single_layer(model: onnx.ModelProto) -> Layer:
    (layer,) = _import(model).layers
    return layer


# ----------------------------------------------------------------------------- Conv


def test_conv_with_groups_strides_pads_and_dilations() -> None:
    conv = helper.make_node(
        "Conv", ["x", "w"], ["y"], group=2, strides=[2, 1], pads=[1, 2, 0, 1], dilations=[2, 1]
    )
    model = _model([conv], [_value("x", ["batch", 8, 17, 20]), _value("w", [12, 4, 3, 3])])
    layer = _single_layer(model)
    # Height: (17 + 1 + 0 - (2*2 + 1)) // 2 + 1 = 7; width: (20 + 2 + 1 - 3) // 1 + 1 = 21.
    assert (layer.R, layer.S, layer.P, layer.Q, layer.C, layer.K, layer.G) == (3, 3, 7, 21, 4, 6, 2)
    assert (layer.stride_h, layer.stride_w, layer.dilation_h, layer.dilation_w) == (2, 1, 2, 1)
    assert (layer.pad_top, layer.pad_left, layer.pad_bottom, layer.pad_right) == (1, 2, 0, 1)
    assert (layer.input_h, layer.input_w, layer.N) == (17, 20, 1)  # dynamic batch -> 1
    assert (layer.name, layer.kind) == ("Conv_0", "grouped_conv")


def test_static_batch_is_a_loop_dim() -> None:
    conv = helper.make_node("Conv", ["x", "w"], ["y"])
    layer = _single_layer(_model([conv], [_value("x", [4, 3, 8, 8]), _value("w", [5, 3, 1, 1])]))
    assert (layer.N, layer.P, layer.Q, layer.kind) == (4, 8, 8, "conv")


def test_depthwise_conv_has_one_channel_per_group() -> None:
    conv = helper.make_node("Conv", ["x", "w"], ["y"], group=32, strides=[2, 2], pads=[1] * 4)
    model = _model([conv], [_value("x", [1, 32, 112, 112]), _value("w", [32, 1, 3, 3])])
    layer = _single_layer(model)
    assert (layer.C, layer.K, layer.G, layer.P, layer.kind) == (1, 1, 32, 56, "depthwise")


def test_conv1d_becomes_a_height_one_layer() -> None:
    conv = helper.make_node("Conv", ["x", "w"], ["y"], strides=[2], pads=[2, 2])
    layer = _single_layer(_model([conv], [_value("x", [1, 16, 100]), _value("w", [32, 16, 5])]))
    assert (layer.R, layer.P, layer.input_h) == (1, 1, 1)
    assert (layer.S, layer.Q, layer.input_w, layer.pad_left, layer.pad_right) == (5, 50, 100, 2, 2)


def _auto_pad_model(x_size: int, pads: dict[str, object]) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((3, 2, 4, 4)).astype(np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], **pads)
    return _model([conv], [_value("x", [1, 2, x_size, x_size])], [weight])


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize(("size", "stride", "dilation"), [(7, 1, 1), (7, 2, 1), (10, 3, 2)])
def test_auto_pad_is_resolved_exactly(mode: str, size: int, stride: int, dilation: int) -> None:
    """The derived explicit pads give the same result as auto_pad in ONNX's reference runtime."""
    geometry = {"strides": [stride] * 2, "dilations": [dilation] * 2}
    auto = _auto_pad_model(size, {"auto_pad": mode, **geometry})
    layer = _single_layer(auto)
    pads = [layer.pad_top, layer.pad_left, layer.pad_bottom, layer.pad_right]
    explicit = _auto_pad_model(size, {"pads": pads, **geometry})
    x = np.random.default_rng(1).standard_normal((1, 2, size, size)).astype(np.float32)
    (expected,) = ReferenceEvaluator(auto).run(None, {"x": x})
    (derived,) = ReferenceEvaluator(explicit).run(None, {"x": x})
    assert expected.shape[2:] == (layer.P, layer.Q)
    np.testing.assert_allclose(derived, expected, rtol=1e-5, atol=1e-5)
    if mode == "VALID":
        assert pads == [0, 0, 0, 0]
    if mode.startswith("SAME"):
        assert layer.P == -(-size // stride)


def test_same_padding_puts_the_odd_row_where_the_spec_says() -> None:
    # Kernel 4, stride 1 on 7: 3 pad rows; UPPER puts the extra one at the end.
    upper = _single_layer(_auto_pad_model(7, {"auto_pad": "SAME_UPPER"}))
    lower = _single_layer(_auto_pad_model(7, {"auto_pad": "SAME_LOWER"}))
    assert (upper.pad_top, upper.pad_bottom) == (1, 2)
    assert (lower.pad_top, lower.pad_bottom) == (2, 1)


def test_quantized_conv_maps_like_conv() -> None:
    conv = helper.make_node("ConvInteger", ["x", "w"], ["y"], pads=[1] * 4)
    inputs = [
        _value("x", [1, 3, 8, 8], TensorProto.UINT8),
        _value("w", [4, 3, 3, 3], TensorProto.UINT8),
    ]
    layer = _single_layer(_model([conv], inputs))
    assert (layer.C, layer.K, layer.P, layer.R) == (3, 4, 8, 3)


def test_conv_with_unknown_weight_shape_is_an_error() -> None:
    conv = helper.make_node("Conv", ["x", "w"], ["y"])
    model = _model([conv], [_value("x", [1, 3, 8, 8]), _value("w", None)])
    with pytest.raises(WorkloadError, match="Conv node 'Conv_0': the shape of 'w' is unknown"):
        _import(model)


def test_conv_with_dynamic_spatial_size_is_an_error() -> None:
    conv = helper.make_node("Conv", ["x", "w"], ["y"])
    model = _model([conv], [_value("x", [1, 3, "height", 8]), _value("w", [4, 3, 1, 1])])
    with pytest.raises(WorkloadError, match=r"axis 2 of 'x' is dynamic \(height\)"):
        _import(model)


def test_conv_whose_weight_does_not_fit_the_input_channels_is_an_error() -> None:
    conv = helper.make_node("Conv", ["x", "w"], ["y"], group=2)
    model = _model([conv], [_value("x", [1, 8, 4, 4]), _value("w", [6, 3, 1, 1])])
    with pytest.raises(WorkloadError, match="group 2 does not fit 8 input channels"):
        _import(model)


# ----------------------------------------------------------------------------- Gemm / MatMul


def test_gemm_with_trans_b_and_ignored_bias() -> None:
    weight = numpy_helper.from_array(np.zeros((1000, 512), np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(1000, np.float32), "b")
    gemm = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
    layer = _single_layer(_model([gemm], [_value("x", ["N", 512])], [weight, bias]))
    assert (layer.P, layer.C, layer.K, layer.G, layer.R, layer.Q) == (1, 512, 1000, 1, 1, 1)
    assert (layer.input_h, layer.input_w, layer.kind) == (1, 1, "gemm")


def test_gemm_with_trans_a() -> None:
    gemm = helper.make_node("Gemm", ["a", "b"], ["y"], transA=1)
    layer = _single_layer(_model([gemm], [_value("a", [512, 4]), _value("b", [512, 10])]))
    assert (layer.P, layer.C, layer.K) == (4, 512, 10)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "expected"),
    [
        # Attention: batch/head dims on both operands -> G = broadcast product.
        ([1, 12, 128, 64], [1, 12, 64, 128], (12, 128, 64, 128)),
        ([1, 12, 128, 128], [1, 12, 128, 64], (12, 128, 128, 64)),
        ([2, 12, 128, 64], [2, 12, 64, 128], (24, 128, 64, 128)),
        (["batch", 12, 128, 64], ["batch", 12, 64, 128], (12, 128, 64, 128)),
        # Only A has leading dims (a projection with a 2-D weight) -> folded into P.
        ([1, 128, 768], [768, 3072], (1, 128, 768, 3072)),
        ([4, 128, 768], [768, 3072], (1, 512, 768, 3072)),
        (["batch", 128, 768], [768, 768], (1, 128, 768, 768)),
        # Only B has them -> G; B broadcast with extent 1 shares one weight -> P.
        ([128, 64], [12, 64, 128], (12, 128, 64, 128)),
        ([4, 128, 64], [1, 64, 32], (1, 512, 64, 32)),
        # 1-D operands follow numpy promotion.
        ([64], [64, 10], (1, 1, 64, 10)),
        ([5, 64], [64], (1, 5, 64, 1)),
    ],
)
def test_matmul_leading_dims(
    a_shape: list[int | str], b_shape: list[int | str], expected: tuple[int, ...]
) -> None:
    matmul = helper.make_node("MatMul", ["a", "b"], ["y"])
    layer = _single_layer(_model([matmul], [_value("a", a_shape), _value("b", b_shape)]))
    assert (layer.G, layer.P, layer.C, layer.K) == expected
    assert (layer.R, layer.S, layer.Q, layer.input_h) == (1, 1, 1, layer.P)


def test_matmul_with_dynamic_sequence_length_is_an_error() -> None:
    matmul = helper.make_node("MatMul", ["a", "b"], ["y"])
    model = _model([matmul], [_value("a", ["batch", "seq", 768]), _value("b", [768, 768])])
    with pytest.raises(WorkloadError, match=r"axis 1 of 'a' is dynamic \(seq\)"):
        _import(model)


def test_matmul_leading_dims_that_do_not_broadcast_are_an_error() -> None:
    matmul = helper.make_node("MatMul", ["a", "b"], ["y"])
    model = _model([matmul], [_value("a", [2, 3, 4, 5]), _value("b", [3, 2, 5, 6])])
    with pytest.raises(WorkloadError, match="do not broadcast"):
        _import(model)


# ----------------------------------------------------------------------------- external data


def _external_weight(name: str, dims: list[int]) -> onnx.TensorProto:
    """An initializer whose bytes live in a file that does not exist."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "missing_weights.bin"), ("offset", "0"),
                       ("length", str(4 * int(np.prod(dims))))):  # fmt: skip
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def test_model_with_missing_external_data_imports(tmp_path: Path) -> None:
    conv = helper.make_node("Conv", ["x", "w1"], ["c"], strides=[2, 2], pads=[3] * 4)
    pool = helper.make_node("GlobalAveragePool", ["c"], ["p"])
    flatten = helper.make_node("Flatten", ["p"], ["f"])
    gemm = helper.make_node("Gemm", ["f", "w2"], ["y"], transB=1)
    weights = [_external_weight("w1", [64, 3, 7, 7]), _external_weight("w2", [1000, 64])]
    model = _model([conv, pool, flatten, gemm], [_value("x", [1, 3, 224, 224])], weights)
    path = tmp_path / "tiny_resnet.onnx"
    onnx.save(model, path)
    assert not (tmp_path / "missing_weights.bin").exists()
    for source in (path, str(path), path.read_bytes()):
        network = import_onnx(source)
        conv_layer, fc_layer = network.layers
        assert (conv_layer.P, conv_layer.C, conv_layer.K, conv_layer.R) == (112, 3, 64, 7)
        assert (fc_layer.C, fc_layer.K) == (64, 1000)
        assert [node.op_type for node in network.skipped] == ["GlobalAveragePool", "Flatten"]
    assert import_onnx(path).name == "tiny_resnet"


# ----------------------------------------------------------------------------- skipped nodes


def test_unsupported_nodes_are_listed_with_reasons() -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("ConvTranspose", ["m", "wt"], ["t"]),
        helper.make_node("Einsum", ["s", "s"], ["e"], equation="ij,jk->ik"),
        helper.make_node("LSTM", ["seq", "lw", "lr"], ["h"], hidden_size=4),
        helper.make_node("Add", ["e", "e"], ["a"]),
        helper.make_node("FancyOp", ["a"], ["z"], domain="com.example"),
    ]
    inputs = [
        _value("x", [1, 3, 8, 8]), _value("w", [4, 3, 1, 1]), _value("wt", [4, 2, 3, 3]),
        _value("s", [5, 5]), _value("seq", [6, 1, 3]), _value("lw", [1, 16, 3]),
        _value("lr", [1, 16, 4]),
    ]  # fmt: skip
    network = _import(_model(nodes, inputs, extra_opsets=[("com.example", 1)]))
    assert [layer.name for layer in network.layers] == ["Conv_0"]
    reasons = {node.name: (node.op_type, node.reason) for node in network.skipped}
    assert reasons == {
        "Relu_0": ("Relu", "not a MAC layer (Relu)"),
        "MaxPool_0": ("MaxPool", "not a MAC layer (MaxPool)"),
        "ConvTranspose_0": ("ConvTranspose", "MAC operator ConvTranspose is not supported by "
                            "the importer"),
        "Einsum_0": ("Einsum", "MAC operator Einsum is not supported by the importer"),
        "LSTM_0": ("LSTM", "MAC operator LSTM is not supported by the importer"),
        "Add_0": ("Add", "not a MAC layer (Add)"),
        "FancyOp_0": ("FancyOp", "operator com.example.FancyOp is outside the standard ONNX "
                      "domain"),
    }  # fmt: skip


def test_three_d_convolution_is_skipped() -> None:
    nodes = [
        helper.make_node("Conv", ["v", "wv"], ["c3"]),
        helper.make_node("Conv", ["x", "w"], ["c2"]),
    ]
    inputs = [_value("v", [1, 2, 4, 4, 4]), _value("wv", [3, 2, 1, 1, 1]),
              _value("x", [1, 3, 8, 8]), _value("w", [4, 3, 1, 1])]  # fmt: skip
    network = _import(_model(nodes, inputs))
    assert [layer.name for layer in network.layers] == ["Conv_1"]
    assert network.skipped[0].reason.startswith("3-D convolution is not supported")


def test_local_functions_are_inlined() -> None:
    body = [helper.make_node("Conv", ["bx", "bw"], ["by"], pads=[1] * 4)]
    function = helper.make_function(
        "local", "Block", ["bx", "bw"], ["by"], body, [helper.make_opsetid("", 17)]
    )
    call = helper.make_node("Block", ["x", "w"], ["y"], domain="local")
    model = _model([call], [_value("x", [1, 3, 8, 8]), _value("w", [4, 3, 3, 3])],
                   extra_opsets=[("local", 1)])  # fmt: skip
    model.functions.append(function)
    layer = _single_layer(model)
    assert (layer.C, layer.K, layer.P, layer.R, layer.pad_top) == (3, 4, 8, 3, 1)


# ----------------------------------------------------------------------------- errors, names


@pytest.mark.parametrize("data", [b"this is not an onnx model", bytes(range(256)), b""])
def test_bytes_that_are_not_onnx_are_rejected(data: bytes) -> None:
    with pytest.raises(WorkloadError, match="not an ONNX model"):
        import_onnx(data)


def test_unreadable_paths_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="cannot read ONNX file"):
        import_onnx(tmp_path / "absent.onnx")
    text = tmp_path / "notes.onnx"
    text.write_text("hello, not protobuf\n")
    with pytest.raises(WorkloadError, match="not an ONNX model"):
        import_onnx(text)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [({"group": 1.0}, "attribute 'group' must be of type INT"),
     ({"auto_pad": 1}, "attribute 'auto_pad' must be of type STRING"),
     ({"strides": [0, 1]}, "strides and dilations must be >= 1"),
     ({"pads": [1, 1]}, "do not match 2 spatial axes"),
     ({"kernel_shape": [5, 5]}, "kernel_shape \\[5, 5\\] disagrees with the weight")],
)  # fmt: skip
def test_malformed_conv_attributes_are_rejected(attributes: dict, message: str) -> None:
    conv = helper.make_node("Conv", ["x", "w"], ["y"], **attributes)
    model = _model([conv], [_value("x", [1, 3, 8, 8]), _value("w", [4, 3, 3, 3])])
    with pytest.raises(WorkloadError, match=message):
        _import(model)


def test_corrupted_models_raise_workload_error_or_import() -> None:
    """Random byte corruption of a valid model never escapes as another exception type."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], auto_pad="SAME_UPPER", strides=[2, 2],
                         dilations=[1, 2], group=2),
        helper.make_node("Flatten", ["c"], ["f"]),
        helper.make_node("Gemm", ["f", "g"], ["h"], transB=1),
        helper.make_node("MatMul", ["q", "k"], ["s"]),
        helper.make_node("Conv", ["t", "u"], ["v"], pads=[1, 1]),
    ]  # fmt: skip
    inputs = [
        _value("x", ["N", 4, 8, 8]), _value("w", [6, 2, 3, 3]), _value("q", [1, 2, 5, 4]),
        _value("k", [1, 2, 4, 5]), _value("t", [1, 3, 9]), _value("u", [2, 3, 3]),
    ]  # fmt: skip
    data = _model(nodes, inputs, [_external_weight("g", [10, 96])]).SerializeToString()
    assert len(import_onnx(data).layers) == 4
    rng = np.random.default_rng(7)
    for _ in range(3000):
        corrupted = bytearray(data)
        for position in rng.integers(0, len(data), size=rng.integers(1, 5)):
            corrupted[position] = int(rng.integers(0, 256))
        try:
            import_onnx(bytes(corrupted))
        except WorkloadError:
            pass


def test_model_without_mac_layers_is_rejected() -> None:
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_value("x", [1, 4])])
    with pytest.raises(WorkloadError, match=r"no Conv, Gemm or MatMul layer.*found: Relu\)"):
        _import(model, name="relu_only")


def test_layer_names_are_node_names_or_generated_and_unique() -> None:
    def conv(source: str, target: str, name: str = "") -> onnx.NodeProto:
        return helper.make_node("Conv", [source, "w"], [target], name=name)

    nodes = [conv("x", "a", "stem"), conv("a", "b", "stem"), conv("b", "c"),
             conv("c", "d", "Conv_0"), conv("d", "e")]  # fmt: skip
    model = _model(nodes, [_value("x", [1, 4, 8, 8]), _value("w", [4, 4, 1, 1])])
    network = _import(model, name="named")
    assert network.name == "named"
    assert [layer.name for layer in network.layers] == ["stem", "stem_2", "Conv_1", "Conv_0",
                                                        "Conv_2"]  # fmt: skip
    assert _import(model).name == "test_graph"


# ----------------------------------------------------------------------------- zoo round trip


def _zoo_layers() -> list[Layer]:
    names = ("resnet18", "vgg16", "alexnet", "mobilenet_v2")
    return [layer for name in names for layer in get_network(name).layers]


def _onnx_for(layer: Layer) -> onnx.ModelProto:
    """The ONNX node a framework would export for a zoo layer."""
    if layer.kind == "fc":
        node = helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)
        return _model([node], [_value("x", [1, layer.C]), _value("w", [layer.K, layer.C])])
    node = helper.make_node(
        "Conv", ["x", "w"], ["y"], group=layer.G, strides=[layer.stride_h, layer.stride_w],
        pads=[layer.pad_top, layer.pad_left, layer.pad_bottom, layer.pad_right],
        dilations=[layer.dilation_h, layer.dilation_w], kernel_shape=[layer.R, layer.S],
    )  # fmt: skip
    inputs = [_value("x", [1, layer.C * layer.G, layer.input_h, layer.input_w]),
              _value("w", [layer.K * layer.G, layer.C, layer.R, layer.S])]  # fmt: skip
    return _model([node], inputs)


@pytest.mark.parametrize("layer", _zoo_layers(), ids=lambda layer: layer.name)
def test_exported_zoo_layers_import_to_the_same_shape(layer: Layer) -> None:
    assert _single_layer(_onnx_for(layer)).shape_key() == layer.shape_key()


# ----------------------------------------------------------------------------- real model

#: ResNet-50 as shipped in onnx's own backend test data ("light" variant: every weight is a
#: ConstantOfShape node, so its shape is only known through shape inference).
LIGHT_RESNET50 = Path(onnx.__file__).parent / "backend/test/data/light/light_resnet50.onnx"


@pytest.mark.skipif(not LIGHT_RESNET50.is_file(), reason="onnx installed without its test data")
def test_real_resnet50_export_imports_with_the_published_mac_count() -> None:
    network = import_onnx(LIGHT_RESNET50)
    kinds = [layer.kind for layer in network.layers]
    assert kinds.count("conv") == 53 and kinds[-1] == "gemm" and len(kinds) == 54
    assert network.macs == 4_089_184_256  # the widely quoted 4.09 GMACs of ResNet-50
    stem = network.layers[0]
    assert (stem.R, stem.P, stem.C, stem.K, stem.stride_h, stem.pad_top) == (7, 112, 3, 64, 2, 3)
    assert {node.op_type for node in network.skipped} >= {"BatchNormalization", "Relu", "MaxPool"}
