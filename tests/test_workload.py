"""Layer validation, the exact input halo, and operand relevance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from miredo_core.workload import (
    DIMS,
    REDUCTION_DIMS,
    RELEVANT,
    Dim,
    Layer,
    Network,
    Operand,
    WorkloadError,
    is_relevant,
    matmul_layer,
    window_extent,
)
from miredo_core.zoo import get_network

# ----------------------------------------------------------------------------- validation


def test_consistent_layer_keeps_every_field() -> None:
    padding = {"pad_top": 1, "pad_bottom": 1, "pad_left": 1, "pad_right": 1}
    layer = Layer("c", R=3, S=3, P=28, Q=28, C=64, K=128, stride_h=2, stride_w=2,
                  input_h=56, input_w=56, **padding)  # fmt: skip
    assert (layer.P, layer.Q, layer.input_h, layer.input_w) == (28, 28, 56, 56)
    assert layer.macs == 3 * 3 * 28 * 28 * 64 * 128


def test_wrong_output_size_is_rejected_with_the_expected_size() -> None:
    with pytest.raises(WorkloadError, match=r"output height is 30 .* gives 32"):
        Layer("c", R=3, S=3, P=30, Q=32, pad_top=1, pad_bottom=1, pad_left=1, pad_right=1,
              input_h=32, input_w=32)  # fmt: skip


def test_wrong_output_width_with_stride_is_rejected() -> None:
    # (56 + 2 - 3) // 2 + 1 = 28, so a width of 27 cannot come from this input.
    with pytest.raises(WorkloadError, match="output width is 27"):
        Layer("c", R=3, S=3, P=28, Q=27, stride_h=2, stride_w=2, pad_top=1, pad_bottom=1,
              pad_left=1, pad_right=1, input_h=56, input_w=56)  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [("K", 0), ("C", -1), ("G", 0), ("N", 0), ("stride_h", 0), ("dilation_w", 0),
     ("weight_bits", 0), ("P", True), ("R", 2.0)],
)  # fmt: skip
def test_non_positive_or_non_integer_dims_are_rejected(field: str, value: object) -> None:
    with pytest.raises(WorkloadError, match=f"{field} must be a positive integer"):
        Layer("bad", **{field: value})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(WorkloadError) as caught:
        Layer("bad", K=0, C=0, pad_top=-1)
    message = str(caught.value)
    assert "K must be" in message and "C must be" in message and "pad_top must be" in message


@pytest.mark.parametrize("field", ["pad_top", "pad_bottom", "pad_left", "pad_right", "input_h"])
def test_negative_padding_or_input_size_is_rejected(field: str) -> None:
    with pytest.raises(WorkloadError, match=f"{field} must be a non-negative integer"):
        Layer("bad", **{field: -1})


def test_padding_that_leaves_no_input_is_rejected() -> None:
    with pytest.raises(WorkloadError, match="leaves no input height"):
        Layer("bad", R=1, P=1, pad_top=1, pad_bottom=1)


def test_kernel_larger_than_padded_input_is_rejected() -> None:
    with pytest.raises(WorkloadError, match="footprint 5 exceeds the padded input width 4"):
        Layer("bad", S=5, Q=1, pad_left=1, pad_right=1, input_w=2, input_h=1)


def test_dilated_footprint_is_validated() -> None:
    # Dilation 2 turns a 3-tap kernel into a 5-row footprint: (9 - 5) // 1 + 1 = 5.
    Layer("ok", R=3, P=5, dilation_h=2, input_h=9, input_w=1)
    with pytest.raises(WorkloadError, match="output height is 7"):
        Layer("bad", R=3, P=7, dilation_h=2, input_h=9, input_w=1)


def test_missing_input_size_is_the_smallest_one_that_yields_the_output() -> None:
    layer = Layer("c", R=3, S=5, P=10, Q=4, stride_h=2)
    assert (layer.input_h, layer.input_w) == (9 * 2 + 3, 3 + 5)


def test_network_rejects_empty_and_duplicate_names() -> None:
    with pytest.raises(WorkloadError, match="no layers"):
        Network("n", ())
    with pytest.raises(WorkloadError, match="duplicate layer names"):
        Network("n", (Layer("a"), Layer("a")))


def test_matmul_layer_is_a_one_by_one_conv_with_the_right_operand_stored() -> None:
    layer = matmul_layer("qk", rows=128, reduction=64, columns=128, groups=12, kind="attention")
    assert (layer.R, layer.S, layer.P, layer.Q, layer.C, layer.K, layer.G) == (
        1, 1, 128, 1, 64, 128, 12,
    )  # fmt: skip
    assert (layer.input_h, layer.input_w, layer.kind) == (128, 1, "attention")
    assert layer.operand_elements(Operand.W) == 12 * 64 * 128
    assert layer.operand_elements(Operand.I) == 12 * 128 * 64
    assert layer.operand_elements(Operand.O) == 12 * 128 * 128


# ----------------------------------------------------------------------------- halo


def _touched(outputs: int, taps: int, stride: int, dilation: int) -> set[int]:
    """Brute force: every input position a tile of outputs x taps reads."""
    return {o * stride + k * dilation for o in range(outputs) for k in range(taps)}


@given(
    outputs=st.integers(1, 24),
    taps=st.integers(1, 7),
    stride=st.integers(1, 5),
    dilation=st.integers(1, 4),
)
def test_window_extent_equals_brute_force(
    outputs: int, taps: int, stride: int, dilation: int
) -> None:
    assert window_extent(outputs, taps, stride, dilation) == len(
        _touched(outputs, taps, stride, dilation)
    )


def _brute_force_input_tile(layer: Layer, extent: dict[Dim, int]) -> int:
    rows = _touched(extent[Dim.P], extent[Dim.R], layer.stride_h, layer.dilation_h)
    cols = _touched(extent[Dim.Q], extent[Dim.S], layer.stride_w, layer.dilation_w)
    # Unpadded layers with tiles anchored at the origin never read past the input.
    assert max(rows) < layer.input_h and max(cols) < layer.input_w
    return len(rows) * len(cols) * extent[Dim.C] * extent[Dim.G] * extent[Dim.N]


HALO_LAYERS = {
    "stride2_kernel3": Layer("a", R=3, S=3, P=8, Q=8, C=4, stride_h=2, stride_w=2,
                             input_h=17, input_w=17),
    "stride_exceeds_kernel": Layer("b", R=1, S=2, P=6, Q=5, C=3, stride_h=2, stride_w=3,
                                   input_h=11, input_w=14),
    "dilation2": Layer("c", R=3, S=3, P=9, Q=7, C=2, dilation_h=2, dilation_w=2,
                       input_h=13, input_w=11),
    "dilation2_stride2": Layer("d", R=3, S=2, P=5, Q=6, G=2, stride_h=2, stride_w=2,
                               dilation_h=2, dilation_w=3, input_h=13, input_w=14),
}  # fmt: skip


@pytest.mark.parametrize("layer", HALO_LAYERS.values(), ids=HALO_LAYERS.keys())
@pytest.mark.parametrize(
    "fraction", [(1, 1, 1, 1), (2, 1, 1, 2), (3, 2, 2, 1), (1, 3, 2, 3), (0, 0, 0, 0)]
)
def test_input_tile_matches_brute_force(layer: Layer, fraction: tuple[int, ...]) -> None:
    """Tiles from one output/tap up to the whole layer ("0" = the full dim)."""
    p, r, q, s = (
        size if part == 0 else min(part, size)
        for part, size in zip(fraction, (layer.P, layer.R, layer.Q, layer.S), strict=True)
    )
    extent = {Dim.P: p, Dim.R: r, Dim.Q: q, Dim.S: s, Dim.C: layer.C, Dim.G: layer.G, Dim.N: 1}
    assert layer.tile_elements(Operand.I, extent) == _brute_force_input_tile(layer, extent)


def test_stride_above_kernel_does_not_count_skipped_rows() -> None:
    # A 1x1 stride-2 conv reads every other row and column: 28 x 28 of a 56 x 56 input.
    layer = Layer("ds", P=28, Q=28, C=64, K=128, stride_h=2, stride_w=2, input_h=56, input_w=56)
    assert layer.tile_elements(Operand.I, layer.dims) == 28 * 28 * 64
    assert layer.operand_elements(Operand.I) == 56 * 56 * 64  # the whole stored tensor


def test_padded_halo_is_clipped_to_the_input() -> None:
    # 7x7 stride 2 pad 3 on 224: the padded window spans 229 rows, only 224 exist.
    layer = Layer("c0", R=7, S=7, P=112, Q=112, C=3, K=64, stride_h=2, stride_w=2, pad_top=3,
                  pad_bottom=3, pad_left=3, pad_right=3, input_h=224, input_w=224)  # fmt: skip
    assert layer.tile_elements(Operand.I, layer.dims) == 224 * 224 * 3


# ----------------------------------------------------------------------------- relevance


def test_relevance_matches_the_conv_nest() -> None:
    assert RELEVANT[Operand.I] == {Dim.R, Dim.S, Dim.P, Dim.Q, Dim.C, Dim.G, Dim.N}
    assert RELEVANT[Operand.W] == {Dim.R, Dim.S, Dim.C, Dim.K, Dim.G}
    assert RELEVANT[Operand.O] == {Dim.P, Dim.Q, Dim.K, Dim.G, Dim.N}
    assert REDUCTION_DIMS == {Dim.R, Dim.S, Dim.C}
    assert not is_relevant(Operand.I, Dim.K)
    assert not is_relevant(Operand.W, Dim.N)
    assert is_relevant(Operand.O, Dim.G)


def test_every_dim_indexes_output_or_is_a_reduction() -> None:
    for dim in DIMS:
        assert (dim in RELEVANT[Operand.O]) != (dim in REDUCTION_DIMS)


@pytest.mark.parametrize("operand", list(Operand))
@pytest.mark.parametrize("dim", DIMS)
def test_tile_size_depends_only_on_relevant_dims(operand: Operand, dim: Dim) -> None:
    layer = Layer("t", R=3, S=3, P=8, Q=8, C=4, K=4, G=2, N=2, input_h=10, input_w=10)
    base = {d: 2 for d in DIMS}
    grown = {**base, dim: 3}
    changed = layer.tile_elements(operand, grown) != layer.tile_elements(operand, base)
    assert changed == is_relevant(operand, dim)


def test_distinct_layers_keep_the_first_of_each_shape_in_order() -> None:
    network = get_network("resnet18")
    distinct = network.distinct_layers()
    keys = [layer.shape_key() for layer in distinct]
    assert len(keys) == len(set(keys)) == len({layer.shape_key() for layer in network.layers})
    positions = [network.layers.index(layer) for layer in distinct]
    assert positions == sorted(positions)
    for layer in network.layers:  # every layer's first occurrence is the one kept
        first = next(d for d in distinct if d.shape_key() == layer.shape_key())
        assert network.layers.index(first) <= network.layers.index(layer)
