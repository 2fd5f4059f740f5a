"""The running feature-map state of a sequential CNN, which the CNN builders append convs to.

Every convolution is built from its input size, kernel, stride and padding, so `Layer` checks
that the output size is the one the framework computes; no dim is padded or rounded (the paper's
solver bumps odd sizes such as 55 -> 56; we keep 55).
"""

from __future__ import annotations

from miredo_core.workload import Layer, matmul_layer


class ConvStack:
    """Tracks the running (square) feature-map size and channel count of a sequential CNN.

    Convolutions are named `Conv_<n>` in build order, which is the ONNX export order for the
    torchvision models here (a residual block's downsample conv comes after its main convs, a
    squeeze-excite pair between the depthwise and the projection conv).
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

    def conv(
        self, channels_out: int, kernel: int, stride: int = 1, padding: int = 0, kind: str = "conv"
    ) -> None:
        """A dense (G = 1) square convolution with symmetric padding."""
        output = (self.size + 2 * padding - kernel) // stride + 1
        self.layers.append(
            Layer(
                name=self._next_name(), R=kernel, S=kernel, P=output, Q=output,
                C=self.channels, K=channels_out, stride_h=stride, stride_w=stride,
                pad_top=padding, pad_bottom=padding, pad_left=padding, pad_right=padding,
                input_h=self.size, input_w=self.size, kind=kind,
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

    def squeeze_excite(self, squeeze_channels: int) -> None:
        """A squeeze-excite gate: global average pool to 1x1, a reducing 1x1 conv, an expanding
        1x1 conv back to the channel count. The gate multiplies the unpooled map, so the
        feature map the next layer reads keeps its size and channels."""
        size, channels = self.size, self.channels
        self.size = 1
        self.conv(squeeze_channels, 1, kind="squeeze_excite")
        self.conv(channels, 1, kind="squeeze_excite")
        self.size = size

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
