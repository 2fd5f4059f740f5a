"""The built-in CNNs at 224x224, batch 1, with the torchvision architectures' exact dims.

Batch normalisation is folded into the preceding convolution (it changes no dim), activations,
pooling and residual additions have no MACs, so only convolutions and fully connected layers
are listed. Layer names follow the ONNX export order (`Conv_0`, `Conv_1`, ...) so they line up
with the reference tables and with imported models.
"""

from __future__ import annotations

from miredo_core.workload import Network
from miredo_core.zoo._stack import ConvStack


def _classifier(stack: ConvStack, pool: int, hidden: tuple[int, ...] = ()) -> None:
    """Adaptive average pool to `pool` x `pool`, then the fully connected layers (1000 classes)."""
    stack.adaptive_pool(pool)
    if not hidden:
        stack.fc("fc", 1000)
        return
    for index, features in enumerate((*hidden, 1000), start=1):
        stack.fc(f"fc{index}", features)


# ----------------------------------------------------------------------------- ResNets
def _basic_block(stack: ConvStack, channels: int, stride: int) -> None:
    """ResNet basic block: two 3x3 convs, plus a 1x1 downsample conv when the shape changes."""
    size_in, channels_in = stack.size, stack.channels
    stack.conv(channels, 3, stride, 1)
    stack.conv(channels, 3, 1, 1)
    if stride != 1 or channels_in != channels:
        # The shortcut reads the block input, not conv-b's output.
        stack.size, stack.channels = size_in, channels_in
        stack.conv(channels, 1, stride, 0)


def _bottleneck(stack: ConvStack, width: int, stride: int) -> None:
    """ResNet bottleneck (torchvision, "v1.5"): 1x1 reduce, 3x3 carrying the stride, 1x1 expand
    to 4 x width, and a strided 1x1 downsample conv on the shortcut when the shape changes."""
    size_in, channels_in = stack.size, stack.channels
    stack.conv(width, 1)
    stack.conv(width, 3, stride, 1)
    stack.conv(4 * width, 1)
    if stride != 1 or channels_in != 4 * width:
        stack.size, stack.channels = size_in, channels_in
        stack.conv(4 * width, 1, stride, 0)


def _resnet(name: str, blocks: tuple[int, ...], bottleneck: bool) -> Network:
    stack = ConvStack(size=224, channels=3)
    stack.conv(64, 7, 2, 3)
    stack.pool(3, 2, 1)
    for stage, (width, repeats) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        for index in range(repeats):
            stride = 2 if stage > 0 and index == 0 else 1
            if bottleneck:
                _bottleneck(stack, width, stride)
            else:
                _basic_block(stack, width, stride)
    _classifier(stack, 1)
    return Network(name, tuple(stack.layers))


def resnet18() -> Network:
    """ResNet-18: 20 convs (17 main, 3 downsample) and the 512 -> 1000 fc."""
    return _resnet("resnet18", (2, 2, 2, 2), bottleneck=False)


def resnet50() -> Network:
    """ResNet-50: 53 convs (stem, 16 bottlenecks x 3, 4 downsample) and the 2048 -> 1000 fc."""
    return _resnet("resnet50", (3, 4, 6, 3), bottleneck=True)


# ----------------------------------------------------------------------------- VGG, AlexNet
#: torchvision VGG features: output channels of each 3x3 conv, "M" = 2x2 max pool.
_VGG16_FEATURES: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip
_VGG19_FEATURES: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip


def _vgg(name: str, features: tuple[int | str, ...]) -> Network:
    stack = ConvStack(size=224, channels=3)
    for item in features:
        if item == "M":
            stack.pool(2, 2)
        else:
            stack.conv(int(item), 3, 1, 1)
    _classifier(stack, 7, hidden=(4096, 4096))
    return Network(name, tuple(stack.layers))


def vgg16() -> Network:
    """VGG-16 (configuration "D"): 13 convs and 3 fc."""
    return _vgg("vgg16", _VGG16_FEATURES)


def vgg19_bn() -> Network:
    """VGG-19 with batch norm (configuration "E"): 16 convs and 3 fc; the batch norms fold into
    the convs, so the layer dims are plain VGG-19's."""
    return _vgg("vgg19_bn", _VGG19_FEATURES)


def alexnet() -> Network:
    """torchvision AlexNet (the one-GPU variant: 64/192/384/256/256 channels)."""
    stack = ConvStack(size=224, channels=3)
    stack.conv(64, 11, 4, 2)  # 55x55
    stack.pool(3, 2)  # 27
    stack.conv(192, 5, 1, 2)
    stack.pool(3, 2)  # 13
    stack.conv(384, 3, 1, 1)
    stack.conv(256, 3, 1, 1)
    stack.conv(256, 3, 1, 1)
    stack.pool(3, 2)  # 6
    _classifier(stack, 6, hidden=(4096, 4096))
    return Network("alexnet", tuple(stack.layers))


# ----------------------------------------------------------------------------- mobile CNNs
#: torchvision MobileNetV2 inverted-residual settings: (expansion t, channels c, repeats n,
#: first stride s), width multiplier 1.0.
_MOBILENET_V2_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)  # fmt: skip


def mobilenet_v2() -> Network:
    """MobileNetV2 1.0: 52 convs (stem, 17 inverted residuals, head) and the 1280 -> 1000 fc."""
    stack = ConvStack(size=224, channels=3)
    stack.conv(32, 3, 2, 1)
    for expansion, channels, repeats, first_stride in _MOBILENET_V2_BLOCKS:
        for index in range(repeats):
            if expansion != 1:  # t = 1 blocks have no expansion conv
                stack.conv(stack.channels * expansion, 1)
            stack.depthwise(3, first_stride if index == 0 else 1, 1)
            stack.conv(channels, 1)
    stack.conv(1280, 1)
    _classifier(stack, 1)
    return Network("mobilenet_v2", tuple(stack.layers))


#: torchvision EfficientNet-B0 MBConv stages: (expansion, kernel, first stride, channels,
#: repeats); width and depth multipliers 1.0.
_EFFICIENTNET_B0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1),
)  # fmt: skip


def efficientnet_b0() -> Network:
    """EfficientNet-B0 at 224x224: 81 convs and the 1280 -> 1000 fc.

    The count: the 3x3 stride-2 stem (1); 16 MBConv blocks, each a 1x1 expansion conv (absent
    in the first block, whose expansion is 1), a depthwise k x k conv (G = channels, padding
    (k-1)/2), the squeeze-excite pair of 1x1 convs on the pooled 1x1 map (reduce to a quarter
    of the *block input* channels, as torchvision does, then expand back) and a 1x1 projection:
    4 + 15 x 5 = 79; the 1x1 head conv to 1280 channels (1). 1 + 79 + 1 = 81.
    """
    stack = ConvStack(size=224, channels=3)
    stack.conv(32, 3, 2, 1)
    for expansion, kernel, first_stride, channels, repeats in _EFFICIENTNET_B0_STAGES:
        for index in range(repeats):
            block_input = stack.channels
            if expansion != 1:
                stack.conv(block_input * expansion, 1)
            stack.depthwise(kernel, first_stride if index == 0 else 1, (kernel - 1) // 2)
            stack.squeeze_excite(max(1, block_input // 4))
            stack.conv(channels, 1)
    stack.conv(1280, 1)
    _classifier(stack, 1)
    return Network("efficientnet_b0", tuple(stack.layers))
