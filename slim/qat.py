"""QAT with PACT (paddleslim's dygraph QAT), fine-tuned by distillation from
the float network (the task supplies the loss: KL on class probabilities,
BCE + dice on probability maps), so the fine-tune pool needs no labels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

QAT_CONFIG = {
    "weight_quantize_type": "channel_wise_abs_max",
    "activation_quantize_type": "moving_average_abs_max",
    "weight_bits": 8,
    "activation_bits": 8,
    "quantizable_layer_type": ["Conv2D", "Linear"],
    "activation_preprocess_type": "PACT",  # learned activation clipping
    "onnx_format": False,  # the same fake-quant form as PTQ, which opt compiles to int8 kernels
}


def qat_pact(student, teacher, loss_fn, out_dir: Path, pool: np.ndarray, steps: int, lr: float,
             batch_size: int, input_shape: list, seed: int = 0) -> Path:
    """`student` and `teacher`: two copies of the float network (eval mode);
    `loss_fn(student_out, teacher_out, F)`."""
    import paddle
    import paddle.nn.functional as F
    from paddleslim import QAT

    from .ptq import quiet_paddleslim

    paddle.disable_static()
    paddle.seed(seed)
    rng = np.random.RandomState(seed)
    teacher.eval()
    quanter = QAT(config=dict(QAT_CONFIG))
    quiet_paddleslim()
    quanter.quantize(student)
    opt = paddle.optimizer.Adam(learning_rate=lr, parameters=student.parameters())
    student.train()
    for layer in student.sublayers():  # a small unlabeled pool must not move the BN statistics
        if isinstance(layer, (paddle.nn.BatchNorm, paddle.nn.BatchNorm2D)):
            layer.eval()
    for _ in tqdm(range(steps), desc="QAT (PACT) distillation", unit="step", leave=False):
        x = paddle.to_tensor(pool[rng.choice(len(pool), min(batch_size, len(pool)), replace=False)])
        with paddle.no_grad():
            t = teacher(x)
        loss = loss_fn(student(x), t, F)
        loss.backward()
        opt.step()
        opt.clear_grad()
    student.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = [paddle.static.InputSpec(shape=input_shape, dtype="float32", name="x")]
    quanter.save_quantized_model(student, str(out_dir / "inference"), input_spec=spec)
    return out_dir
