"""Built-in CNNs (miredo_core.zoo.cnn) against the reference tables (section 7.2), architecture
tables written from the torchvision definitions, published MAC totals and real ONNX exports."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from miredo_core.onnx_import import import_onnx
from miredo_core.workload import Layer, Operand
from miredo_core.zoo import get_network

#: Real ONNX exports shipped with the onnx package's backend test data ("light": weights are
#: ConstantOfShape nodes), an independent source of per-layer shapes; nothing is downloaded.
ONNX_LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"

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


# -------------------------------------------------------------- ResNet-50, VGG-19, mobile CNNs
#: ResNet-50 (torchvision, stride on the 3x3) convs as (copies, kernel, output size, C, K).
RESNET50_CONVS = (
    (1, 7, 112, 3, 64),
    # stage 1 at 56x56: first block's 1x1 reduce, 3x3s, 1x1 expands, downsample, later reduces
    (1, 1, 56, 64, 64), (3, 3, 56, 64, 64), (3, 1, 56, 64, 256), (1, 1, 56, 64, 256),
    (2, 1, 56, 256, 64),
    # stage 2 at 28x28 (the first reduce still reads 56x56)
    (1, 1, 56, 256, 128), (4, 3, 28, 128, 128), (4, 1, 28, 128, 512), (1, 1, 28, 256, 512),
    (3, 1, 28, 512, 128),
    # stage 3 at 14x14
    (1, 1, 28, 512, 256), (6, 3, 14, 256, 256), (6, 1, 14, 256, 1024), (1, 1, 14, 512, 1024),
    (5, 1, 14, 1024, 256),
    # stage 4 at 7x7
    (1, 1, 14, 1024, 512), (3, 3, 7, 512, 512), (3, 1, 7, 512, 2048), (1, 1, 7, 1024, 2048),
    (2, 1, 7, 2048, 512),
)  # fmt: skip


def _conv_signature(layer: Layer) -> tuple[int, int, int, int]:
    return (layer.R, layer.P, layer.C, layer.K)


def _expanded(table) -> list[tuple[int, ...]]:
    return sorted(row[1:] for row in table for _ in range(row[0]))


def _table_macs(table) -> int:
    return sum(copies * k * k * size * size * c * n for copies, k, size, c, n in table)


def test_resnet50_layers_and_macs_match_the_architecture_table() -> None:
    network = get_network("resnet50")
    convs = [layer for layer in network.layers if layer.kind == "conv"]
    assert [layer.name for layer in network.layers] == [f"Conv_{i}" for i in range(53)] + ["fc"]
    assert sorted(_conv_signature(layer) for layer in convs) == _expanded(RESNET50_CONVS)
    assert sum(layer.macs for layer in convs) == _table_macs(RESNET50_CONVS)
    fc = network.layer("fc")
    assert (fc.C, fc.K) == (2048, 1000)
    # The widely quoted 4.09 GMACs of ResNet-50 (torchvision: 4.09 GFLOPS).
    assert network.macs == _table_macs(RESNET50_CONVS) + 2048 * 1000 == 4_089_184_256


@pytest.mark.parametrize(
    ("name", "dims"),
    [  # (R, P, C, K, input size, stride, pad) in ONNX order
        ("Conv_0", (7, 112, 3, 64, 224, 2, 3)),
        ("Conv_4", (1, 56, 64, 256, 56, 1, 0)),  # stage-1 downsample, after conv3
        ("Conv_12", (3, 28, 128, 128, 56, 2, 1)),  # the stride sits on the 3x3 (v1.5)
        ("Conv_14", (1, 28, 256, 512, 56, 2, 0)),
        ("Conv_27", (1, 14, 512, 1024, 28, 2, 0)),
        ("Conv_44", (3, 7, 512, 512, 14, 2, 1)),
        ("Conv_52", (1, 7, 512, 2048, 7, 1, 0)),
    ],
)  # fmt: skip
def test_resnet50_characteristic_layers(name: str, dims: tuple[int, ...]) -> None:
    layer = get_network("resnet50").layer(name)
    got = (layer.R, layer.P, layer.C, layer.K, layer.input_h, layer.stride_h, layer.pad_top)
    assert got == dims and (layer.S, layer.Q, layer.G) == (layer.R, layer.P, 1)


#: VGG-19 convs as (copies, kernel, output size, C, K): configuration "E", all 3x3 pad 1.
VGG19_CONVS = (
    (1, 3, 224, 3, 64), (1, 3, 224, 64, 64), (1, 3, 112, 64, 128), (1, 3, 112, 128, 128),
    (1, 3, 56, 128, 256), (3, 3, 56, 256, 256), (1, 3, 28, 256, 512), (3, 3, 28, 512, 512),
    (4, 3, 14, 512, 512),
)  # fmt: skip


def test_vgg19_bn_layers_and_macs_match_the_architecture_table() -> None:
    network = get_network("vgg19_bn")
    convs = [layer for layer in network.layers if layer.kind == "conv"]
    assert len(convs) == 16 and [layer.name for layer in network.layers[16:]] == [
        "fc1", "fc2", "fc3",
    ]  # fmt: skip
    assert [_conv_signature(layer) for layer in convs] == [
        row[1:] for row in VGG19_CONVS for _ in range(row[0])
    ]
    assert all((layer.stride_h, layer.pad_top, layer.input_h) == (1, 1, layer.P) for layer in convs)
    fc_macs = 512 * 7 * 7 * 4096 + 4096 * 4096 + 4096 * 1000
    assert [(fc.C, fc.K) for fc in network.layers[16:]] == [
        (512 * 7 * 7, 4096), (4096, 4096), (4096, 1000),
    ]  # fmt: skip
    assert network.macs == _table_macs(VGG19_CONVS) + fc_macs
    assert round(network.macs / 1e9, 2) == 19.63  # torchvision vgg19_bn: 19.63 GFLOPS


@pytest.mark.skipif(not ONNX_LIGHT.is_dir(), reason="onnx installed without its test data")
@pytest.mark.parametrize(
    ("model", "name"), [("light_resnet50.onnx", "resnet50"), ("light_vgg19.onnx", "vgg19_bn")]
)
def test_zoo_network_equals_a_real_onnx_export_layer_by_layer(model: str, name: str) -> None:
    imported = import_onnx(ONNX_LIGHT / model)
    assert [layer.shape_key() for layer in imported.layers] == [
        layer.shape_key() for layer in get_network(name).layers
    ]


#: Inverted-residual blocks as (input size, output size, C in, expanded, C out, kernel).
MOBILENET_V2_BLOCKS = (
    (112, 112, 32, 32, 16, 3),
    (112, 56, 16, 96, 24, 3), (56, 56, 24, 144, 24, 3),
    (56, 28, 24, 144, 32, 3), (28, 28, 32, 192, 32, 3), (28, 28, 32, 192, 32, 3),
    (28, 14, 32, 192, 64, 3), *[(14, 14, 64, 384, 64, 3)] * 3,
    (14, 14, 64, 384, 96, 3), *[(14, 14, 96, 576, 96, 3)] * 2,
    (14, 7, 96, 576, 160, 3), *[(7, 7, 160, 960, 160, 3)] * 2,
    (7, 7, 160, 960, 320, 3),
)  # fmt: skip
EFFICIENTNET_B0_BLOCKS = (
    (112, 112, 32, 32, 16, 3),
    (112, 56, 16, 96, 24, 3), (56, 56, 24, 144, 24, 3),
    (56, 28, 24, 144, 40, 5), (28, 28, 40, 240, 40, 5),
    (28, 14, 40, 240, 80, 3), *[(14, 14, 80, 480, 80, 3)] * 2,
    (14, 14, 80, 480, 112, 5), *[(14, 14, 112, 672, 112, 5)] * 2,
    (14, 7, 112, 672, 192, 5), *[(7, 7, 192, 1152, 192, 5)] * 3,
    (7, 7, 192, 1152, 320, 3),
)  # fmt: skip


def _mobile_macs(blocks, squeeze_excite: bool) -> int:
    """Stem 3x3 s2 to 32 channels, the blocks, 1x1 head 320 -> 1280 at 7x7, fc 1280 -> 1000."""
    total = 112 * 112 * 3 * 32 * 9 + 7 * 7 * 320 * 1280 + 1280 * 1000
    for size_in, size_out, c_in, expanded, c_out, kernel in blocks:
        if expanded != c_in:
            total += size_in * size_in * c_in * expanded
        total += size_out * size_out * expanded * kernel * kernel
        if squeeze_excite:
            total += 2 * expanded * (c_in // 4)
        total += size_out * size_out * expanded * c_out
    return total


def test_mobilenet_v2_macs_match_the_block_table_exactly() -> None:
    assert get_network("mobilenet_v2").macs == _mobile_macs(MOBILENET_V2_BLOCKS, False)


def test_efficientnet_b0_counts_81_convs_by_role() -> None:
    network = get_network("efficientnet_b0")
    convs = network.layers[:-1]
    assert [layer.name for layer in convs] == [f"Conv_{i}" for i in range(81)]
    assert network.layers[-1].name == "fc" and (network.layers[-1].C, network.layers[-1].K) == (
        1280, 1000,
    )  # fmt: skip
    kinds = [layer.kind for layer in convs]
    assert kinds.count("depthwise") == 16 and kinds.count("squeeze_excite") == 32
    assert kinds.count("conv") == 1 + 15 + 16 + 1  # stem, expansions, projections, head
    depthwise = [layer for layer in convs if layer.kind == "depthwise"]
    assert [(layer.R, layer.G, layer.P, layer.stride_h) for layer in depthwise] == [
        (kernel, expanded, out, 2 if size_in != out else 1)
        for size_in, out, _, expanded, _, kernel in EFFICIENTNET_B0_BLOCKS
    ]
    assert all(layer.pad_top == (layer.R - 1) // 2 and layer.C == layer.K == 1
               for layer in depthwise)  # fmt: skip


def test_efficientnet_b0_squeeze_excite_convs_are_1x1_on_1x1_maps() -> None:
    network = get_network("efficientnet_b0")
    pairs = [layer for layer in network.layers if layer.kind == "squeeze_excite"]
    for reduce, expand, block in zip(pairs[::2], pairs[1::2], EFFICIENTNET_B0_BLOCKS, strict=True):
        c_in, expanded = block[2], block[3]
        for layer in (reduce, expand):
            assert (layer.R, layer.P, layer.Q, layer.input_h, layer.G) == (1, 1, 1, 1, 1)
        assert (reduce.C, reduce.K, expand.C, expand.K) == (
            expanded,
            c_in // 4,
            c_in // 4,
            expanded,
        )


def test_efficientnet_b0_macs_match_the_block_table_and_the_published_390m() -> None:
    network = get_network("efficientnet_b0")
    assert network.macs == _mobile_macs(EFFICIENTNET_B0_BLOCKS, True)
    assert network.macs == pytest.approx(0.39e9, rel=0.02)  # Tan & Le 2019, table 2


@pytest.mark.parametrize(
    ("name", "dims"),
    [  # (R, P, C, K, G, input size, stride) in ONNX order
        ("Conv_0", (3, 112, 3, 32, 1, 224, 2)),
        ("Conv_1", (3, 112, 1, 1, 32, 112, 1)),  # block 1 has no expansion conv
        ("Conv_2", (1, 1, 32, 8, 1, 1, 1)),
        ("Conv_36", (3, 14, 1, 1, 480, 14, 1)),
        ("Conv_40", (1, 14, 80, 480, 1, 14, 1)),
        ("Conv_41", (5, 14, 1, 1, 480, 14, 1)),  # reference 5.3's 5x5 depthwise, 480 @ 14x14
        ("Conv_44", (1, 14, 480, 112, 1, 14, 1)),
        ("Conv_56", (5, 7, 1, 1, 672, 14, 2)),
        ("Conv_76", (3, 7, 1, 1, 1152, 7, 1)),
        ("Conv_80", (1, 7, 320, 1280, 1, 7, 1)),
    ],
)  # fmt: skip
def test_efficientnet_b0_characteristic_layers(name: str, dims: tuple[int, ...]) -> None:
    layer = get_network("efficientnet_b0").layer(name)
    got = (layer.R, layer.P, layer.C, layer.K, layer.G, layer.input_h, layer.stride_h)
    assert got == dims
