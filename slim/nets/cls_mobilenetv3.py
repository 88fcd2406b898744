"""The v2.0 text-direction classifier: PaddleOCR's recognition-style
MobileNetV3 (stride (2, 1) down the height only) and its ClsHead.

Attribute names follow PaddleOCR (ppocr/modeling/backbones/rec_mobilenet_v3.py,
heads/cls_head.py) so a trained checkpoint's keys, `backbone.conv1.conv.weight`
to `head.fc.bias`, are this network's state_dict keys.
"""
from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBNLayer(nn.Layer):
    def __init__(self, cin, cout, k, stride, padding, groups=1, act=None):
        super().__init__()
        self.act = act
        self.conv = nn.Conv2D(cin, cout, k, stride, padding, groups=groups, bias_attr=False)
        self.bn = nn.BatchNorm(cout, act=None)

    def forward(self, x):
        x = self.bn(self.conv(x))
        if self.act == "relu":
            x = F.relu(x)
        elif self.act == "hardswish":
            x = F.hardswish(x)
        return x


class SEModule(nn.Layer):
    """Squeeze-excite with PaddleOCR's hard sigmoid (slope 0.2). Some ONNX
    exports of the v2.0 models (japan rec) carry slope 1/6 instead; the
    loader reads it from the file so the network computes what the file does."""

    def __init__(self, channels, reduction=4, slope=0.2, inner=None):
        super().__init__()
        self.slope = slope
        inner = inner or channels // reduction  # a pruned network gives its own
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channels, inner, 1)
        self.conv2 = nn.Conv2D(inner, channels, 1)

    def forward(self, x):
        s = F.relu(self.conv1(self.avg_pool(x)))
        return x * F.hardsigmoid(self.conv2(s), slope=self.slope, offset=0.5)


class ResidualUnit(nn.Layer):
    def __init__(self, cin, mid, cout, k, stride, use_se, act, se_slope=0.2, se_inner=None, shortcut=None):
        super().__init__()
        self.if_shortcut = stride == 1 and cin == cout if shortcut is None else shortcut
        self.if_se = use_se
        self.expand_conv = ConvBNLayer(cin, mid, 1, 1, 0, act=act)
        self.bottleneck_conv = ConvBNLayer(mid, mid, k, stride, (k - 1) // 2, groups=mid, act=act)
        if use_se:
            self.mid_se = SEModule(mid, slope=se_slope, inner=se_inner)
        self.linear_conv = ConvBNLayer(mid, cout, 1, 1, 0)

    def forward(self, x):
        y = self.bottleneck_conv(self.expand_conv(x))
        if self.if_se:
            y = self.mid_se(y)
        y = self.linear_conv(y)
        return x + y if self.if_shortcut else y


# k, expansion, out, SE, activation, and which entry of `small_stride` is the
# block's height stride (None: stride 1). PaddleOCR's "small" table; cls uses
# small_stride (2, 2, 2, 2), the v2.0 recognizers (1, 2, 2, 2).
SMALL = [
    (3, 16, 16, True, "relu", 0),
    (3, 72, 24, False, "relu", 1),
    (3, 88, 24, False, "relu", None),
    (5, 96, 40, True, "hardswish", 2),
    (5, 240, 40, True, "hardswish", None),
    (5, 240, 40, True, "hardswish", None),
    (5, 120, 48, True, "hardswish", None),
    (5, 144, 48, True, "hardswish", None),
    (5, 288, 96, True, "hardswish", 3),
    (5, 576, 96, True, "hardswish", None),
    (5, 576, 96, True, "hardswish", None),
]


class MobileNetV3(nn.Layer):
    """`widths` (from `widths_of`) rebuilds a pruned network: conv1's
    channels, per block (expand, SE inner, out), conv2's channels; residual
    connections stay where the unpruned network has them."""

    def __init__(self, in_channels=3, scale=0.35, small_stride=(2, 2, 2, 2), se_slope=0.2, widths=None):
        super().__init__()
        inplanes = make_divisible(16 * scale)
        full_in = inplanes
        if widths:
            inplanes = widths["conv1"]
        self.conv1 = ConvBNLayer(in_channels, inplanes, 3, 2, 1, act="hardswish")
        blocks = []
        for i, (k, exp, c, se, act, h) in enumerate(SMALL):
            s = 1 if h is None else (small_stride[h], 1)
            mid, out, inner = make_divisible(scale * exp), make_divisible(scale * c), None
            shortcut = s == 1 and full_in == out
            if widths:
                mid, inner, out = widths["blocks"][i]
            blocks.append(ResidualUnit(inplanes, mid, out, k, s, se, act, se_slope, inner, shortcut))
            inplanes, full_in = out, make_divisible(scale * c)
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = widths["conv2"] if widths else make_divisible(scale * 576)
        self.conv2 = ConvBNLayer(inplanes, self.out_channels, 1, 1, 0, act="hardswish")
        self.pool = nn.MaxPool2D(kernel_size=2, stride=2, padding=0)

    def forward(self, x):
        return self.pool(self.conv2(self.blocks(self.conv1(x))))


class ClsHead(nn.Layer):
    def __init__(self, in_channels, class_dim=2):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(in_channels, class_dim)

    def forward(self, x):
        x = self.pool(x)
        x = paddle.reshape(x, [x.shape[0], x.shape[1]])
        x = self.fc(x)
        return x if self.training else F.softmax(x, axis=1)


class TextClassifier(nn.Layer):
    """PaddleOCR's BaseModel for model_type cls: backbone and head, no neck."""

    def __init__(self, scale=0.35, class_dim=2):
        super().__init__()
        self.backbone = MobileNetV3(scale=scale)
        self.head = ClsHead(self.backbone.out_channels, class_dim)

    def forward(self, x):
        return self.head(self.backbone(x))


def widths_of(shapes: dict) -> dict:
    """MobileNetV3 `widths` from a (pruned) state dict's shapes, keys under `backbone.`."""
    blocks = []
    for i in range(len(SMALL)):
        pre = f"backbone.blocks.{i}."
        se = shapes.get(pre + "mid_se.conv1.weight")
        blocks.append((int(shapes[pre + "expand_conv.conv.weight"][0]), int(se[0]) if se is not None else None,
                       int(shapes[pre + "linear_conv.conv.weight"][0])))
    return {"conv1": int(shapes["backbone.conv1.conv.weight"][0]), "blocks": blocks,
            "conv2": int(shapes["backbone.conv2.conv.weight"][0])}
