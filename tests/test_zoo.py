"""Built-in networks: names, parameters and templates, the transformer blocks against the
reference tables (section 7.5), and workload name resolution."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from miredo_core import workload, zoo
from miredo_core.config import dump_workload
from miredo_core.workload import Layer, Network, Operand, WorkloadError
from miredo_core.zoo import NETWORK_NAMES, get_network, load_workload, matmul_layer, transformer

SAMPLES = Path(__file__).resolve().parent.parent / "sample_configs" / "hardware"


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
        "resnet50", "vgg19_bn", "efficientnet_b0", "tinyllama_block", "gpt2_medium_decode",
        "tinyllama_decode",
    }  # fmt: skip
    assert zoo.list_networks() == NETWORK_NAMES
    assert set(zoo.list_networks(zoo.TRANSFORMER)) == {
        "bert_base", "gpt2_medium_block", "tinyllama_block", "gpt2_medium_decode",
        "tinyllama_decode",
    }  # fmt: skip
    with pytest.raises(WorkloadError, match="unknown network family 'rnn'"):
        zoo.list_networks("rnn")


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_every_network_names_an_existing_hardware_template(name: str) -> None:
    entry = zoo.network_entry(name)
    assert entry.name == name
    assert (SAMPLES / f"{entry.template}.yaml").is_file()
    expected = "transformer_16core" if entry.family == zoo.TRANSFORMER else "default_8core"
    assert entry.template == expected


def test_unknown_network_lists_the_valid_names() -> None:
    with pytest.raises(WorkloadError, match="unknown network 'resnet19'.*resnet18.*bert_base"):
        get_network("resnet19")


def test_matmul_layer_is_exported_by_the_zoo() -> None:
    layer = matmul_layer("m", rows=4, reduction=8, columns=16, groups=2)
    assert (layer.P, layer.C, layer.K, layer.G, layer.input_h, layer.kind) == (
        4, 8, 16, 2, 4, "matmul",
    )  # fmt: skip
    assert zoo.matmul_layer is workload.matmul_layer


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


def test_tinyllama_block_matches_reference_table() -> None:
    """Reference section 7.5 (GQA listed after the key/value repeat to 32 heads)."""
    network = get_network("tinyllama_block")
    square, kv = (1, 1024, 2048, 2048), (1, 1024, 2048, 256)
    assert _shapes(network) == {
        "q_proj": square, "k_proj": kv, "v_proj": kv,
        "qk_t": (32, 1024, 64, 1024), "score_v": (32, 1024, 1024, 64), "o_proj": square,
        "gate_proj": (1, 1024, 2048, 5632), "up_proj": (1, 1024, 2048, 5632),
        "down_proj": (1, 1024, 5632, 2048),
    }  # fmt: skip
    seq, hidden, ffn = 1024, 2048, 5632
    linear = seq * hidden * (2 * hidden + 2 * 256 + 3 * ffn)
    attention = 2 * 32 * seq * 64 * seq
    assert network.macs == linear + attention


@pytest.mark.parametrize(("batch", "context"), [(1, 1024), (4, 512), (8, 2048)])
def test_gpt2_medium_decode_step_shapes(batch: int, context: int) -> None:
    network = get_network("gpt2_medium_decode", batch=batch, context=context)
    projection = (1, batch, 1024, 1024)
    assert _shapes(network) == {
        "q_proj": projection, "k_proj": projection, "v_proj": projection,
        "qk_t": (16 * batch, 1, 64, context), "score_v": (16 * batch, 1, context, 64),
        "o_proj": projection, "ffn1": (1, batch, 1024, 4096), "ffn2": (1, batch, 4096, 1024),
    }  # fmt: skip
    default = (batch, context) == (1, 1024)
    name = (
        "gpt2_medium_decode" if default else f"gpt2_medium_decode[batch={batch},context={context}]"
    )
    assert network.name == name


def test_tinyllama_decode_step_keeps_the_cache_as_the_stored_operand() -> None:
    network = get_network("tinyllama_decode[batch=2,context=300]")
    shapes = _shapes(network)
    # K^T ([64 x 300] per head) and V ([300 x 64]) are the weights of the attention products.
    assert shapes["qk_t"] == (64, 1, 64, 300) and shapes["score_v"] == (64, 1, 300, 64)
    assert network.layer("qk_t").operand_elements(Operand.W) == 2 * 32 * 64 * 300
    assert shapes["k_proj"] == (1, 2, 2048, 256) and shapes["down_proj"] == (1, 2, 5632, 2048)
    # One decode step costs a prefill's linears per token, plus attention linear in the context.
    prefill = get_network("tinyllama_block")
    linears = sum(layer.macs for layer in prefill.layers if layer.kind == "linear")
    assert network.macs == 2 * linears // 1024 + 2 * 2 * 32 * 64 * 300


def test_parametrised_names_round_trip_and_share_one_instance() -> None:
    network = get_network("tinyllama_decode", batch=8, context=2048)
    assert get_network(network.name) is network
    assert load_workload(network.name) is network
    assert get_network("tinyllama_decode[batch=1, context=1024]") is get_network("tinyllama_decode")
    assert get_network("tinyllama_decode[context=2048]").name == (
        "tinyllama_decode[batch=1,context=2048]"
    )


@pytest.mark.parametrize(
    ("spec", "parameters", "message"),
    [("tinyllama_decode[batch=0]", {}, "batch must be a positive integer"),
     ("tinyllama_decode[heads=4]", {}, "no parameter 'heads'.*batch, context"),
     ("tinyllama_decode[batch]", {}, "must read key=integer"),
     ("tinyllama_decode[batch=two]", {}, "must read key=integer"),
     ("tinyllama_decode[batch=2]", {"batch": 4}, "batch given twice"),
     ("resnet18", {"batch": 2}, "no parameter 'batch'.*none"),
     ("resnet19[batch=2]", {}, "unknown network")],
)  # fmt: skip
def test_bad_network_parameters_are_rejected_by_name(
    spec: str, parameters: dict[str, int], message: str
) -> None:
    with pytest.raises(WorkloadError, match=message):
        get_network(spec, **parameters)


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


@pytest.mark.parametrize(
    ("shape", "message"),
    [({"hidden": 100, "heads": 3, "ffn": 4}, "not divisible by 3 heads"),
     ({"hidden": 64, "heads": 8, "ffn": 4, "kv_heads": 3}, "not a multiple of 3 key/value")],
)  # fmt: skip
def test_inconsistent_block_shapes_are_rejected(shape: dict[str, int], message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        transformer.BlockShape(**shape)


def test_decode_block_rejects_a_non_positive_context() -> None:
    with pytest.raises(WorkloadError, match="context must be a positive integer"):
        transformer.decode_block(transformer.GPT2_MEDIUM, batch=1, context=0)
