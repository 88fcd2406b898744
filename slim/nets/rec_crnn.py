"""The v2.0 CRNN recognizers (ch mobile, en_number, french, german, korean,
japan): MobileNetV3 small x0.5 with height-only strides, a two-layer BiLSTM
over the width, and a CTC head.

Attribute names follow PaddleOCR (backbones/rec_mobilenet_v3.py,
necks/rnn.py, heads/rec_ctc_head.py), so a trained checkpoint's keys, from
`backbone.conv1.conv.weight` to `neck.encoder.lstm.0.cell_fw.weight_ih` and
`head.fc.bias`, are this network's state_dict keys.
"""
from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

from slim.nets.cls_mobilenetv3 import MobileNetV3

REC_STRIDE = (1, 2, 2, 2)  # PaddleOCR's rec configs: small_stride [1, 2, 2, 2]


class EncoderWithRNN(nn.Layer):
    def __init__(self, in_channels, hidden_size):
        super().__init__()
        self.out_channels, self.hidden = hidden_size * 2, hidden_size
        self.lstm = nn.LSTM(in_channels, hidden_size, direction="bidirectional", num_layers=2)
        # The cuDNN dropout-state buffer is created empty; QAT's model save
        # shares every buffer's memory and fails on an empty one.
        self.lstm._dropout_state = paddle.zeros([1], dtype="uint8")

    def forward(self, x):
        # Zero initial states built from x: left to nn.LSTM, paddle 2.6 exports
        # them as 0-D fill_constant ops that Paddle Lite 2.13 cannot shape.
        z = paddle.tile(paddle.transpose(paddle.zeros_like(x[:, 0:1, 0:1]), [1, 0, 2]), [4, 1, self.hidden])
        x, _ = self.lstm(x, (z, z))
        return x


class SequenceEncoder(nn.Layer):
    """Im2Seq ([N, C, 1, W] -> [N, W, C]) then the BiLSTM."""

    def __init__(self, in_channels, hidden_size):
        super().__init__()
        self.encoder = EncoderWithRNN(in_channels, hidden_size)
        self.out_channels = self.encoder.out_channels

    def forward(self, x):
        x = paddle.transpose(paddle.squeeze(x, axis=2), [0, 2, 1])
        return self.encoder(x)


class CTCHead(nn.Layer):
    def __init__(self, in_channels, n_classes):
        super().__init__()
        self.fc = nn.Linear(in_channels, n_classes)

    def forward(self, x):
        x = self.fc(x)
        return x if self.training else F.softmax(x, axis=2)


class CRNN(nn.Layer):
    """Output [N, W/4, n_classes]: per-timestep CTC probabilities in eval
    mode (index 0 the blank), logits in training mode."""

    def __init__(self, n_classes: int, hidden_size: int = 48, scale: float = 0.5, se_slope: float = 0.2,
                 widths: dict | None = None):
        super().__init__()
        self.backbone = MobileNetV3(scale=scale, small_stride=REC_STRIDE, se_slope=se_slope, widths=widths)
        self.se_slope = se_slope
        self.neck = SequenceEncoder(self.backbone.out_channels, hidden_size)
        self.head = CTCHead(self.neck.out_channels, n_classes)
        self.n_classes, self.hidden_size = n_classes, hidden_size

    def forward(self, x):
        return self.head(self.neck(self.backbone(x)))


def shape_of(shapes: list[tuple]) -> tuple[int, int]:
    """(n_classes, hidden_size) from a CRNN's parameter shapes in forward
    order: the CTC fc's bias is last, the first LSTM's recurrent weight is
    [4 * hidden, hidden]."""
    n_classes = int(shapes[-1][-1])
    hidden = next(int(s[1]) for s in shapes if len(s) == 2 and s[0] == 4 * s[1])
    return n_classes, hidden
