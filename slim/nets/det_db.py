"""The v2.0 mobile text detector: DB with PaddleOCR's detection MobileNetV3
(large, scale 0.5, no SE), DBFPN and DBHead.

Attribute names follow PaddleOCR (ppocr/modeling/backbones/det_mobilenet_v3.py,
necks/db_fpn.py, heads/det_db_head.py), so a trained checkpoint's keys
(`backbone.conv.conv.weight` ... `head.thresh.conv3.bias`) are this network's
state_dict keys. Sublayers are created in forward order so an inference model
or ONNX export, whose weights come in execution order, loads position by
position.

`widths` overrides channel counts (a pruned model: the official pruned
detector, or a checkpoint of ours) so any pruned variant rebuilds exactly.
"""
from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from slim.nets.cls_mobilenetv3 import ConvBNLayer, make_divisible

# k, expansion, out, SE, activation, stride (PaddleOCR's "large" table)
LARGE = [
    (3, 16, 16, False, "relu", 1),
    (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1),
    (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 2),
    (3, 200, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1),
    (3, 480, 112, True, "hardswish", 1),
    (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", 2),
    (5, 960, 160, True, "hardswish", 1),
    (5, 960, 160, True, "hardswish", 1),
]


class ResidualUnit(nn.Layer):
    """A MobileNetV3 bottleneck without SE (the v2.0 mobile det disables it)."""

    def __init__(self, cin, mid, cout, k, stride, act):
        super().__init__()
        self.if_shortcut = stride == 1 and cin == cout
        self.expand_conv = ConvBNLayer(cin, mid, 1, 1, 0, act=act)
        self.bottleneck_conv = ConvBNLayer(mid, mid, k, stride, (k - 1) // 2, groups=mid, act=act)
        self.linear_conv = ConvBNLayer(mid, cout, 1, 1, 0)

    def forward(self, x):
        y = self.linear_conv(self.bottleneck_conv(self.expand_conv(x)))
        return x + y if self.if_shortcut else y


def default_widths(scale: float = 0.5, neck: int = 96) -> dict:
    w = {"backbone.conv": make_divisible(16 * scale)}
    for i, (_, exp, c, _, _, _) in enumerate(LARGE):
        w[f"block{i}.mid"] = make_divisible(scale * exp)
        w[f"block{i}.out"] = make_divisible(scale * c)
    w["backbone.last"] = make_divisible(scale * 960)
    for n in ("in5", "in4", "in3", "in2"):
        w[f"neck.{n}"] = neck
    for n in ("p5", "p4", "p3", "p2"):
        w[f"neck.{n}"] = neck // 4
    w["head.binarize"] = w["head.thresh"] = neck // 4
    # the first transposed conv's outputs: PaddleSlim prunes them with conv1's filters
    w["head.binarize.up"] = w["head.thresh.up"] = neck // 4
    return w


class MobileNetV3Det(nn.Layer):
    def __init__(self, widths: dict, in_channels=3):
        super().__init__()
        inplanes = widths["backbone.conv"]
        self.conv = ConvBNLayer(in_channels, inplanes, 3, 2, 1, act="hardswish")
        self.stages, self.out_channels, blocks = [], [], []
        for i, (k, _, _, _, act, s) in enumerate(LARGE):
            if s == 2 and i > 2:  # a new stage starts at each later stride-2 block
                self.out_channels.append(inplanes)
                self.stages.append(nn.Sequential(*blocks))
                blocks = []
            cout = widths[f"block{i}.out"]
            blocks.append(ResidualUnit(inplanes, widths[f"block{i}.mid"], cout, k, s, act))
            inplanes = cout
        blocks.append(ConvBNLayer(inplanes, widths["backbone.last"], 1, 1, 0, act="hardswish"))
        self.stages.append(nn.Sequential(*blocks))
        self.out_channels.append(widths["backbone.last"])
        for i, stage in enumerate(self.stages):
            self.add_sublayer(f"stage{i}", stage)

    def forward(self, x):
        x = self.conv(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


def _up(x, s):
    return F.upsample(x, scale_factor=s, mode="nearest", align_mode=1)


class DBFPN(nn.Layer):
    def __init__(self, in_channels: list, widths: dict):
        super().__init__()
        c2, c3, c4, c5 = in_channels
        self.in5_conv = nn.Conv2D(c5, widths["neck.in5"], 1, bias_attr=False)
        self.in4_conv = nn.Conv2D(c4, widths["neck.in4"], 1, bias_attr=False)
        self.in3_conv = nn.Conv2D(c3, widths["neck.in3"], 1, bias_attr=False)
        self.in2_conv = nn.Conv2D(c2, widths["neck.in2"], 1, bias_attr=False)
        self.p5_conv = nn.Conv2D(widths["neck.in5"], widths["neck.p5"], 3, padding=1, bias_attr=False)
        self.p4_conv = nn.Conv2D(widths["neck.in4"], widths["neck.p4"], 3, padding=1, bias_attr=False)
        self.p3_conv = nn.Conv2D(widths["neck.in3"], widths["neck.p3"], 3, padding=1, bias_attr=False)
        self.p2_conv = nn.Conv2D(widths["neck.in2"], widths["neck.p2"], 3, padding=1, bias_attr=False)
        self.out_channels = sum(widths[f"neck.{p}"] for p in ("p5", "p4", "p3", "p2"))

    def forward(self, x):
        c2, c3, c4, c5 = x
        in5 = self.in5_conv(c5)
        in4 = self.in4_conv(c4)
        in3 = self.in3_conv(c3)
        in2 = self.in2_conv(c2)
        out4 = in4 + _up(in5, 2)
        out3 = in3 + _up(out4, 2)
        out2 = in2 + _up(out3, 2)
        p5 = _up(self.p5_conv(in5), 8)
        p4 = _up(self.p4_conv(out4), 4)
        p3 = _up(self.p3_conv(out3), 2)
        p2 = self.p2_conv(out2)
        return paddle.concat([p5, p4, p3, p2], axis=1)


class Head(nn.Layer):
    def __init__(self, cin: int, mid: int, up: int | None = None):
        super().__init__()
        up = up or mid
        self.conv1 = nn.Conv2D(cin, mid, 3, padding=1, bias_attr=False)
        self.conv_bn1 = nn.BatchNorm(mid, act="relu")
        self.conv2 = nn.Conv2DTranspose(mid, up, 2, stride=2)
        self.conv_bn2 = nn.BatchNorm(up, act="relu")
        self.conv3 = nn.Conv2DTranspose(up, 1, 2, stride=2)

    def forward(self, x):
        x = self.conv_bn1(self.conv1(x))
        x = self.conv_bn2(self.conv2(x))
        return F.sigmoid(self.conv3(x))


class DBHead(nn.Layer):
    """Eval: the shrink (probability) map. Train: probability, threshold and
    approximate binary maps, stacked on the channel axis."""

    def __init__(self, cin: int, widths: dict, k: int = 50, with_thresh: bool = True):
        super().__init__()
        self.k = k
        self.binarize = Head(cin, widths["head.binarize"], widths.get("head.binarize.up"))
        self.with_thresh = with_thresh
        self.all_maps = False  # eval-mode export of all three maps (as the official pruned model has)
        if with_thresh:
            self.thresh = Head(cin, widths["head.thresh"], widths.get("head.thresh.up"))

    def forward(self, x):
        shrink = self.binarize(x)
        if not (self.training or self.all_maps) or not self.with_thresh:
            return shrink
        thresh = self.thresh(x)
        binary = paddle.reciprocal(1 + paddle.exp(-self.k * (shrink - thresh)))
        return paddle.concat([shrink, thresh, binary], axis=1)


class DBNet(nn.Layer):
    """PaddleOCR's BaseModel for model_type det: backbone, neck, head."""

    def __init__(self, widths: dict | None = None, with_thresh: bool = True):
        super().__init__()
        self.widths = dict(widths or default_widths())
        self.backbone = MobileNetV3Det(self.widths)
        self.neck = DBFPN(self.backbone.out_channels, self.widths)
        self.head = DBHead(self.neck.out_channels, self.widths, with_thresh=with_thresh)

    def forward(self, x):
        return self.head(self.neck(self.backbone(x)))

    def concat_units(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """The FPN's p-convs, whose outputs are concatenated into the head
        (PaddleSlim does not follow a concat): (conv weight key, [(consumer
        weight key, channel offset in the consumer's input)])."""
        heads = ["head.binarize.conv1.weight"] + (["head.thresh.conv1.weight"] if self.head.with_thresh else [])
        out, offset = [], 0
        for p in ("p5", "p4", "p3", "p2"):
            conv = getattr(self.neck, f"{p}_conv")
            out.append((f"neck.{p}_conv.weight", [(h, offset) for h in heads]))
            offset += conv.weight.shape[0]
        return out


def _prefix_of_blocks():
    """block index -> state-dict prefix (`backbone.stage1.0`)."""
    out, stage, j = {}, 0, 0
    for i, (_, _, _, _, _, s) in enumerate(LARGE):
        if s == 2 and i > 2:
            stage, j = stage + 1, 0
        out[i] = f"backbone.stage{stage}.{j}"
        j += 1
    return out, f"backbone.stage{stage}.{j}"


def widths_of(shapes: dict) -> dict:
    """Channel counts of a DB state dict ({key: shape}), for rebuilding a pruned network."""
    w = default_widths()
    blocks, last = _prefix_of_blocks()
    w["backbone.conv"] = shapes["backbone.conv.conv.weight"][0]
    for i, p in blocks.items():
        w[f"block{i}.mid"] = shapes[f"{p}.expand_conv.conv.weight"][0]
        w[f"block{i}.out"] = shapes[f"{p}.linear_conv.conv.weight"][0]
    w["backbone.last"] = shapes[f"{last}.conv.weight"][0]
    for n in ("in5", "in4", "in3", "in2", "p5", "p4", "p3", "p2"):
        w[f"neck.{n}"] = shapes[f"neck.{n}_conv.weight"][0]
    for h in ("binarize", "thresh"):
        if f"head.{h}.conv1.weight" in shapes:
            w[f"head.{h}"] = shapes[f"head.{h}.conv1.weight"][0]
            w[f"head.{h}.up"] = shapes[f"head.{h}.conv2.weight"][1]  # transposed: [in, out, k, k]
    return w


def widths_from_list(params: list) -> dict:
    """Channel counts from weights in forward order (an ONNX export or an
    inference model of a pruned DB detector): the output size of each conv."""
    # conv weights: stem, 15 x (expand, depthwise, linear), last, 8 neck, then the head
    convs = [a.shape[0] for _, a in params if a.ndim == 4 and not (a.shape[0] == 1 and a.shape[2:] == (1, 1))]
    w = default_widths()
    w["backbone.conv"] = convs[0]
    for i in range(len(LARGE)):
        w[f"block{i}.mid"] = convs[1 + 3 * i]
        w[f"block{i}.out"] = convs[3 + 3 * i]
    k = 1 + 3 * len(LARGE)
    w["backbone.last"] = convs[k]
    for j, n in enumerate(("in5", "in4", "in3", "in2", "p5", "p4", "p3", "p2")):
        w[f"neck.{n}"] = convs[k + 1 + j]
    w["head.binarize"] = w["head.thresh"] = convs[k + 9]
    # then conv2 (transposed, [in, out, 2, 2]) and conv3, whose first axis is conv2's outputs
    w["head.binarize.up"] = w["head.thresh.up"] = convs[k + 11] if len(convs) > k + 11 else convs[k + 9]
    return w
