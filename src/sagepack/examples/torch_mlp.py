"""The torch-mlp example: a small PyTorch network trained on scikit-learn's digits, its
state saved with ``torch.save`` (``model.pth``) and served by an AWS-style PyTorch script.

torch is not among sagepack's extras (PyPI's Linux wheels bring gigabytes of CUDA): the
committed ``model.pth`` is what images are built and tested from, and regenerating it needs
a torch on this machine, a CPU build being enough (``pip install torch``). Trained on one
thread with fixed seeds and deterministic algorithms, full batch.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from sagepack.examples.common import load_module, need, write_model_and_samples

NAME = "torch-mlp"
INSTALL = ("install it into this environment (a CPU build is enough), e.g. "
           "`.venv/bin/pip install torch==2.13.0`, and scikit-learn (the dev extra)")
MODEL_FILE = "model.pth"
EPOCHS = 300
SAMPLE_INDEX = [0, 11, 22, 33, 44, 55, 66, 77]


def check_tools() -> None:
    for module in ("torch", "sklearn"):
        need(module, INSTALL, NAME)


def train(model_root: Path) -> tuple[bytes, list[list[float]]]:
    """The trained network's saved state and the sample rows."""
    import torch
    from sklearn.datasets import load_digits

    # The network's class is the handler's own: the state saved is the state it loads.
    net_class: Any = load_module(model_root / "code" / "inference.py",
                                 "sagepack_example_torch_mlp_net").Net
    digits = load_digits()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    features = torch.tensor(digits.data, dtype=torch.float32)
    labels = torch.tensor(digits.target, dtype=torch.long)
    net = net_class()
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        optimiser.zero_grad()
        loss_fn(net(features), labels).backward()
        optimiser.step()
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    rows = [[float(v) for v in digits.data[i]] for i in SAMPLE_INDEX]
    return buffer.getvalue(), rows


def generate(model_root: Path) -> list[Path]:
    """(Re)write ``model.pth``, the samples and their expected responses."""
    model_bytes, rows = train(model_root)
    return write_model_and_samples(model_root, MODEL_FILE, model_bytes, rows)
