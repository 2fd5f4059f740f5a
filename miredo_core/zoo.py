"""Built-in networks, built in code with the exact published dims, and workload name resolution.

Every convolution is built from its input size, kernel, stride and padding, so `Layer` checks
that the output size is the one the framework computes; no dim is padded or rounded (the paper's
solver bumps odd sizes such as 55 -> 56; we keep 55). Layer names follow the ONNX export order
(`Conv_0`, `Conv_1`, ...) so they line up with the reference tables and with imported models.
Batch is 1 everywhere. Transformer blocks list every product of one layer as an independent
MatMul with the right operand stored in the array (reference section 1.1 and 7.5).
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Callable

from miredo_core.config import load_workload_yaml
from miredo_core.onnx_import import import_onnx
from miredo_core.workload import Layer, Network, WorkloadError, matmul_layer

__all__ = ["NETWORK_NAMES", "get_network", "load_workload", "matmul_layer"]


class _ConvStack:
    """Tracks the running (square) feature-map size and channel count of a sequential CNN.

    Convolutions are named `Conv_<n>` in build order, which is the ONNX export order for the
    torchvision models here (a residual block's downsample conv comes after its two main convs).
    """

    def __init__(self, size: int, channels: int) -> None:
        self.size = size
        self.channels = channels
        self.layers: list[Layer] = []
        self._conv_count = 0

    def _next_name(self) -> str:
        name = f"Conv_{self._conv_count}"
        self._conv_count += 1
        return name

    def conv(self, channels_out: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        """A dense (G = 1) square convolution with symmetric padding."""
        output = (self.size + 2 * padding - kernel) // stride + 1
        self.layers.append(
            Layer(
                name=self._next_name(), R=kernel, S=kernel, P=output, Q=output,
                C=self.channels, K=channels_out, stride_h=stride, stride_w=stride,
                pad_top=padding, pad_bottom=padding, pad_left=padding, pad_right=padding,
                input_h=self.size, input_w=self.size, kind="conv",
            )
        )  # fmt: skip
        self.size, self.channels = output, channels_out

    def depthwise(self, kernel: int, stride: int, padding: int) -> None:
        """A depthwise convolution: one group per channel, so C = K = 1 and G = channels."""
        output = (self.size + 2 * padding - kernel) // stride + 1
        self.layers.append(
            Layer(
                name=self._next_name(), R=kernel, S=kernel, P=output, Q=output, C=1, K=1,
                G=self.channels, stride_h=stride, stride_w=stride,
                pad_top=padding, pad_bottom=padding, pad_left=padding, pad_right=padding,
                input_h=self.size, input_w=self.size, kind="depthwise",
            )
        )  # fmt: skip
        self.size = output

    def pool(self, kernel: int, stride: int, padding: int = 0) -> None:
        """Max pooling (PyTorch floor mode): changes the size only, has no MACs."""
        self.size = (self.size + 2 * padding - kernel) // stride + 1

    def adaptive_pool(self, output: int) -> None:
        """Adaptive average pooling: its output size is exactly `output` whatever the input."""
        self.size = output

    def fc(self, name: str, features_out: int) -> None:
        """A fully connected layer on the flattened feature map (batch 1 row)."""
        features_in = self.channels * self.size * self.size
        self.layers.append(matmul_layer(name, 1, features_in, features_out, kind="fc"))
        self.size, self.channels = 1, features_out


def _basic_block(stack: _ConvStack, channels: int, stride: int) -> None:
    """ResNet basic block: two 3x3 convs, plus a 1x1 downsample conv when the shape changes."""
    size_in, channels_in = stack.size, stack.channels
    stack.conv(channels, 3, stride, 1)
    stack.conv(channels, 3, 1, 1)
    if stride != 1 or channels_in != channels:
        # The shortcut reads the block input, not conv-b's output.
        stack.size, stack.channels = size_in, channels_in
        stack.conv(channels, 1, stride, 0)


def _resnet18() -> Network:
    stack = _ConvStack(size=224, channels=3)
    stack.conv(64, 7, 2, 3)
    stack.pool(3, 2, 1)
    for channels, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        _basic_block(stack, channels, stride)
        _basic_block(stack, channels, 1)
    stack.adaptive_pool(1)
    stack.fc("fc", 1000)
    return Network("resnet18", tuple(stack.layers))


#: torchvision VGG-16 ("D") features: output channels of each 3x3 conv, "M" = 2x2 max pool.
_VGG16_FEATURES: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip


def _vgg16() -> Network:
    stack = _ConvStack(size=224, channels=3)
    for item in _VGG16_FEATURES:
        if item == "M":
            stack.pool(2, 2)
        else:
            stack.conv(int(item), 3, 1, 1)
    stack.adaptive_pool(7)
    for name, features in (("fc1", 4096), ("fc2", 4096), ("fc3", 1000)):
        stack.fc(name, features)
    return Network("vgg16", tuple(stack.layers))


def _alexnet() -> Network:
    """torchvision AlexNet (the one-GPU variant: 64/192/384/256/256 channels)."""
    stack = _ConvStack(size=224, channels=3)
    stack.conv(64, 11, 4, 2)  # 55x55
    stack.pool(3, 2)  # 27
    stack.conv(192, 5, 1, 2)
    stack.pool(3, 2)  # 13
    stack.conv(384, 3, 1, 1)
    stack.conv(256, 3, 1, 1)
    stack.conv(256, 3, 1, 1)
    stack.pool(3, 2)  # 6
    stack.adaptive_pool(6)
    for name, features in (("fc1", 4096), ("fc2", 4096), ("fc3", 1000)):
        stack.fc(name, features)
    return Network("alexnet", tuple(stack.layers))


#: torchvision MobileNetV2 inverted-residual settings: (expansion t, channels c, repeats n,
#: first stride s), width multiplier 1.0.
_MOBILENET_V2_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)  # fmt: skip


def _mobilenet_v2() -> Network:
    stack = _ConvStack(size=224, channels=3)
    stack.conv(32, 3, 2, 1)
    for expansion, channels, repeats, first_stride in _MOBILENET_V2_BLOCKS:
        for index in range(repeats):
            if expansion != 1:  # t = 1 blocks have no expansion conv
                stack.conv(stack.channels * expansion, 1)
            stack.depthwise(3, first_stride if index == 0 else 1, 1)
            stack.conv(channels, 1)
    stack.conv(1280, 1)
    stack.adaptive_pool(1)
    stack.fc("fc", 1000)
    return Network("mobilenet_v2", tuple(stack.layers))


def _transformer_block(seq: int, hidden: int, heads: int, ffn: int) -> tuple[Layer, ...]:
    """One encoder/decoder layer at prefill: every product is a MatMul with a stored right
    operand (the projection weights, K^T for QK^T, V for score.V), heads on G."""
    if hidden % heads:
        raise WorkloadError(f"hidden size {hidden} is not divisible by {heads} heads")
    head_dim = hidden // heads
    return (
        matmul_layer("q_proj", seq, hidden, hidden, kind="linear"),
        matmul_layer("k_proj", seq, hidden, hidden, kind="linear"),
        matmul_layer("v_proj", seq, hidden, hidden, kind="linear"),
        matmul_layer("qk_t", seq, head_dim, seq, groups=heads, kind="attention"),
        matmul_layer("score_v", seq, seq, head_dim, groups=heads, kind="attention"),
        matmul_layer("o_proj", seq, hidden, hidden, kind="linear"),
        matmul_layer("ffn1", seq, hidden, ffn, kind="linear"),
        matmul_layer("ffn2", seq, ffn, hidden, kind="linear"),
    )


def _bert_base() -> Network:
    return Network("bert_base", _transformer_block(seq=128, hidden=768, heads=12, ffn=3072))


def _gpt2_medium_block() -> Network:
    layers = _transformer_block(seq=1024, hidden=1024, heads=16, ffn=4096)
    return Network("gpt2_medium_block", layers)


_BUILDERS: dict[str, Callable[[], Network]] = {
    "resnet18": _resnet18,
    "vgg16": _vgg16,
    "alexnet": _alexnet,
    "mobilenet_v2": _mobilenet_v2,
    "bert_base": _bert_base,
    "gpt2_medium_block": _gpt2_medium_block,
}

NETWORK_NAMES: tuple[str, ...] = tuple(_BUILDERS)


@functools.cache
def get_network(name: str) -> Network:
    """A built-in network by name (networks are frozen, so one instance is shared)."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise WorkloadError(
            f"unknown network {name!r}; built-in networks are: {', '.join(NETWORK_NAMES)}"
        ) from None
    return builder()


_ONNX_SUFFIXES = frozenset({".onnx"})
_YAML_SUFFIXES = frozenset({".yaml", ".yml"})


def load_workload(spec: str | pathlib.Path) -> Network:
    """A network from a built-in name, an ONNX file or a workload YAML file.

    The one entry point the CLI and the UI use, so every way of naming a workload gives the
    same errors. A built-in name wins over a file of the same name in the working directory.
    """
    if isinstance(spec, str) and spec in _BUILDERS:
        return get_network(spec)
    path = pathlib.Path(spec)
    suffix = path.suffix.lower()
    if suffix not in _ONNX_SUFFIXES | _YAML_SUFFIXES:
        raise WorkloadError(
            f"unknown workload {str(spec)!r}: give a built-in network "
            f"({', '.join(NETWORK_NAMES)}), a .onnx file or a .yaml/.yml file"
        )
    if not path.is_file():
        raise WorkloadError(f"workload file not found: {path}")
    if suffix in _ONNX_SUFFIXES:
        return import_onnx(path)
    return load_workload_yaml(path)
