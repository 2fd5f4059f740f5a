"""Built-in networks against published figures and the reference tables (section 7.2, 7.5)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from miredo_core import workload, zoo
from miredo_core.config import dump_workload
from miredo_core.workload import Layer, Network, Operand, WorkloadError
from miredo_core.zoo import NETWORK_NAMES, get_network, load_workload, matmul_layer


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_every_network_builds_with_explicit_input_sizes(name: str) -> None:
    network = get_network(name)
    assert network.name == name
    assert network.macs > 0 and not network.skipped
    for layer in network.layers:
        assert layer.input_h > 0 and layer.input_w > 0 and layer.N == 1


def test_network_names() -> None:
    assert set(NETWORK_NAMES) == {
        "resnet18", "vgg16", "alexnet", "mobilenet_v2", "bert_base", "gpt2_medium_block",
    }  # fmt: skip


def test_unknown_network_lists_the_valid_names() -> None:
    with pytest.raises(WorkloadError, match="unknown network 'resnet19'.*resnet18.*bert_base"):
        get_network("resnet19")


def test_matmul_layer_is_exported_by_the_zoo() -> None:
    layer = matmul_layer("m", rows=4, reduction=8, columns=16, groups=2)
    assert (layer.P, layer.C, layer.K, layer.G, layer.input_h, layer.kind) == (
        4, 8, 16, 2, 4, "matmul",
    )  # fmt: skip
    assert zoo.matmul_layer is workload.matmul_layer


# ----------------------------------------------------------------------------- ResNet-18

#: Reference section 7.2: name -> (R, S, P, Q, C, K, G, H, stride, pad, |I|, |W|, |O|, MACs).
RESNET18_TABLE = {
    "Conv_0": (7, 7, 112, 112, 3, 64, 1, 224, 2, 3, 150528, 9408, 802816, 118_013_952),
    "Conv_1": (3, 3, 56, 56, 64, 64, 1, 56, 1, 1, 200704, 36864, 200704, 115_605_504),
    "Conv_5": (3, 3, 28, 28, 64, 128, 1, 56, 2, 1, 200704, 73728, 100352, 57_802_752),
    "Conv_6": (3, 3, 28, 28, 128, 128, 1, 28, 1, 1, 100352, 147456, 100352, 115_605_504),
    "Conv_7": (1, 1, 28, 28, 64, 128, 1, 56, 2, 0, 50176, 8192, 100352, 6_422_528),
    "Conv_10": (3, 3, 14, 14, 128, 256, 1, 28, 2, 1, 100352, 294912, 50176, 57_802_752),
    "Conv_11": (3, 3, 14, 14, 256, 256, 1, 14, 1, 1, 50176, 589824, 50176, 115_605_504),
    "Conv_12": (1, 1, 14, 14, 128, 256, 1, 28, 2, 0, 25088, 32768, 50176, 6_422_528),
    "Conv_15": (3, 3, 7, 7, 256, 512, 1, 14, 2, 1, 50176, 1179648, 25088, 57_802_752),
    "Conv_16": (3, 3, 7, 7, 512, 512, 1, 7, 1, 1, 25088, 2359296, 25088, 115_605_504),
    "Conv_17": (1, 1, 7, 7, 256, 512, 1, 14, 2, 0, 12544, 131072, 25088, 6_422_528),
}

#: Layers the table lists as repeats of another ("Conv_1 (x4: 1-4)", "Conv_6, 8, 9", ...).
RESNET18_REPEATS = {
    "Conv_1": ("Conv_2", "Conv_3", "Conv_4"),
    "Conv_6": ("Conv_8", "Conv_9"),
    "Conv_11": ("Conv_13", "Conv_14"),
    "Conv_16": ("Conv_18", "Conv_19"),
}


@pytest.mark.parametrize("name", RESNET18_TABLE)
def test_resnet18_layer_matches_reference_table(name: str) -> None:
    r, s, p, q, c, k, g, size, stride, pad, inputs, weights, outputs, macs = RESNET18_TABLE[name]
    layer = get_network("resnet18").layer(name)
    assert (layer.R, layer.S, layer.P, layer.Q, layer.C, layer.K, layer.G) == (r, s, p, q, c, k, g)
    assert (layer.input_h, layer.input_w) == (size, size)
    assert (layer.stride_h, layer.stride_w) == (stride, stride)
    assert (layer.pad_top, layer.pad_bottom, layer.pad_left, layer.pad_right) == (pad,) * 4
    # The table's |I| is the touched-input (halo) count: for the 1x1 stride-2 downsample convs
    # that is a quarter of the stored tensor, which `operand_elements` reports instead.
    assert layer.tile_elements(Operand.I, layer.dims) == inputs
    assert layer.operand_elements(Operand.W) == weights
    assert layer.operand_elements(Operand.O) == outputs
    assert layer.macs == macs


def test_resnet18_operand_elements_of_the_input_is_the_stored_tensor() -> None:
    network = get_network("resnet18")
    for name in RESNET18_TABLE:
        layer = network.layer(name)
        assert layer.operand_elements(Operand.I) == layer.input_h * layer.input_w * layer.C


@pytest.mark.parametrize("name", RESNET18_REPEATS)
def test_resnet18_repeated_layers_have_the_same_shape(name: str) -> None:
    network = get_network("resnet18")
    for repeat in RESNET18_REPEATS[name]:
        assert network.layer(repeat).shape_key() == network.layer(name).shape_key()


def test_resnet18_layer_list_and_mac_totals() -> None:
    network = get_network("resnet18")
    names = [layer.name for layer in network.layers]
    assert names == [f"Conv_{i}" for i in range(20)] + ["fc"]
    convs = [layer for layer in network.layers if layer.kind == "conv"]
    assert sum(layer.macs for layer in convs) == 1_813_561_344
    fc = network.layer("fc")
    assert (fc.P, fc.C, fc.K, fc.G, fc.R, fc.S) == (1, 512, 1000, 1, 1, 1)
    assert network.macs == 1_813_561_344 + 512 * 1000  # torchvision: 1.81 GFLOPS


# ----------------------------------------------------------------------------- CNNs


def test_mobilenet_v2_structure() -> None:
    network = get_network("mobilenet_v2")
    convs = [layer for layer in network.layers if layer.kind in ("conv", "depthwise")]
    assert len(convs) == 52 and [layer.name for layer in convs] == [f"Conv_{i}" for i in range(52)]
    depthwise = [layer for layer in convs if layer.kind == "depthwise"]
    assert len(depthwise) == 17
    previous = {layer.name: before for before, layer in zip(convs, convs[1:], strict=False)}
    for layer in depthwise:
        channels = previous[layer.name].K * previous[layer.name].G
        assert (layer.C, layer.K, layer.G, layer.R, layer.S) == (1, 1, channels, 3, 3)
    assert convs[-1].K == 1280
    fc = network.layer("fc")
    assert (fc.C, fc.K) == (1280, 1000)


@pytest.mark.parametrize(
    ("name", "groups", "size", "stride"),
    [("Conv_1", 32, 112, 1), ("Conv_10", 144, 28, 2), ("Conv_40", 576, 7, 2),
     ("Conv_43", 960, 7, 1)],
)  # fmt: skip
def test_mobilenet_v2_depthwise_anchors(name: str, groups: int, size: int, stride: int) -> None:
    """The depthwise layers reference section 7.2 names by their ONNX index."""
    layer = get_network("mobilenet_v2").layer(name)
    assert (layer.G, layer.C, layer.K, layer.P, layer.Q) == (groups, 1, 1, size, size)
    assert layer.stride_h == stride


def test_mobilenet_v2_macs_match_the_published_300m() -> None:
    # Sandler et al. 2018, table 4: 300M multiply-adds for MobileNetV2 1.0 at 224.
    assert get_network("mobilenet_v2").macs == pytest.approx(300e6, rel=0.01)


def test_vgg16_structure_and_macs() -> None:
    network = get_network("vgg16")
    convs = [layer for layer in network.layers if layer.kind == "conv"]
    assert len(convs) == 13
    assert all((layer.R, layer.pad_top, layer.stride_h) == (3, 1, 1) for layer in convs)
    assert [(fc.C, fc.K) for fc in network.layers[13:]] == [
        (512 * 7 * 7, 4096), (4096, 4096), (4096, 1000),
    ]  # fmt: skip
    assert round(network.macs / 1e9, 2) == 15.47  # torchvision: 15.47 GFLOPS


def test_alexnet_structure_and_macs() -> None:
    network = get_network("alexnet")
    conv1 = network.layer("Conv_0")
    # 11x11 stride 4 pad 2 on 224 gives 55 (kept as is, not bumped to 56).
    assert (conv1.R, conv1.P, conv1.K, conv1.stride_h, conv1.pad_top) == (11, 55, 64, 4, 2)
    assert [layer.K for layer in network.layers[:5]] == [64, 192, 384, 256, 256]
    assert [layer.P for layer in network.layers[:5]] == [55, 27, 13, 13, 13]
    assert network.layer("fc1").C == 256 * 6 * 6
    assert round(network.macs / 1e9, 2) == 0.71  # torchvision: 0.71 GFLOPS


# ----------------------------------------------------------------------------- Transformers


def _shapes(network: Network) -> dict[str, tuple[int, ...]]:
    """name -> (G, P, C, K) with every layer a stride-1 1x1 MatMul."""
    for layer in network.layers:
        assert (layer.R, layer.S, layer.Q, layer.input_w, layer.stride_h) == (1, 1, 1, 1, 1)
        assert layer.input_h == layer.P
    return {layer.name: (layer.G, layer.P, layer.C, layer.K) for layer in network.layers}


def test_bert_base_layer_shapes() -> None:
    network = get_network("bert_base")
    projection = (1, 128, 768, 768)
    assert _shapes(network) == {
        "q_proj": projection, "k_proj": projection, "v_proj": projection,
        "qk_t": (12, 128, 64, 128), "score_v": (12, 128, 128, 64), "o_proj": projection,
        "ffn1": (1, 128, 768, 3072), "ffn2": (1, 128, 3072, 768),
    }  # fmt: skip
    assert network.layer("qk_t").kind == "attention" and network.layer("ffn1").kind == "linear"


def test_gpt2_medium_block_matches_reference_table() -> None:
    projection = (1, 1024, 1024, 1024)
    assert _shapes(get_network("gpt2_medium_block")) == {
        "q_proj": projection, "k_proj": projection, "v_proj": projection,
        "qk_t": (16, 1024, 64, 1024), "score_v": (16, 1024, 1024, 64), "o_proj": projection,
        "ffn1": (1, 1024, 1024, 4096), "ffn2": (1, 1024, 4096, 1024),
    }  # fmt: skip


# ----------------------------------------------------------------------------- load_workload


def test_load_workload_by_name_returns_the_built_in_network() -> None:
    assert load_workload("resnet18") is get_network("resnet18")


def test_load_workload_reads_onnx(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
        "fc_only",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 512]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [1000, 512])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000])],
    )  # fmt: skip
    path = tmp_path / "head.ONNX"
    onnx.save(helper.make_model(graph), path)
    network = load_workload(str(path))
    assert network.name == "head"
    assert [(layer.P, layer.C, layer.K) for layer in network.layers] == [(1, 512, 1000)]


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_load_workload_delegates_yaml_to_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    path = tmp_path / f"w{suffix}"
    path.write_text("workload: {}\n")
    seen: list[Path] = []
    expected = Network("from_yaml", (Layer("a"),))

    def fake_loader(given: Path) -> Network:
        seen.append(Path(given))
        return expected

    monkeypatch.setattr(zoo, "load_workload_yaml", fake_loader)
    assert load_workload(str(path)) is expected
    assert seen == [path]


def test_load_workload_yaml_round_trip(tmp_path: Path) -> None:
    network = get_network("mobilenet_v2")
    path = tmp_path / "mobilenet_v2.yaml"
    path.write_text(dump_workload(network))
    assert load_workload(path) == network


@pytest.mark.parametrize(
    ("spec", "message"),
    [("resnet19", "unknown workload 'resnet19'.*resnet18.*\\.onnx.*\\.yaml"),
     ("model.pt", "unknown workload"), ("missing.onnx", "workload file not found"),
     ("missing.yaml", "workload file not found")],
)  # fmt: skip
def test_load_workload_errors(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        load_workload(str(tmp_path / spec) if "." in spec else spec)
