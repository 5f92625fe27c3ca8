"""Handwritten digit classifier (8x8 images, 64 pixel values 0-16 a row) in the style of
AWS's PyTorch container: the network's class and its saved state (``model.pth``), loaded
by ``model_fn(model_dir, context)`` onto this worker's GPU, ``context.system_properties
["gpu_id"]``, when CUDA is available, else onto the CPU; the log says which.

There is no input_fn or output_fn: the default codecs decode the request (CSV rows, a JSON
list of rows, JSON Lines or .npy) into a 2-D numpy array, and the ten class probabilities
of each row go back in the type the Accept header asks for.
"""

import logging
import os

import torch
from torch import nn

logger = logging.getLogger(__name__)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(64, 32)
        self.out = nn.Linear(32, 10)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x / 16.0)))


def model_fn(model_dir, context):
    gpu_id = context.system_properties.get("gpu_id")
    if gpu_id is not None and torch.cuda.is_available():
        device = torch.device(f"cuda:{gpu_id}")
        why = f"gpu_id {gpu_id}, {torch.cuda.get_device_name(device)}"
    else:
        device = torch.device("cpu")
        why = "no GPU visible" if gpu_id is None else f"gpu_id {gpu_id}, but CUDA is not available"
    model = Net()
    with open(os.path.join(model_dir, "model.pth"), "rb") as f:
        model.load_state_dict(torch.load(f, map_location=device, weights_only=True))
    logger.info("torch %s (CUDA %s) runs the model on %s (%s)", torch.__version__,
                torch.version.cuda, device, why)
    return model.to(device).eval()


def predict_fn(input_data, model):
    device = next(model.parameters()).device
    with torch.no_grad():
        rows = torch.as_tensor(input_data, dtype=torch.float32, device=device)
        probabilities = torch.softmax(model(rows), dim=1)
    return probabilities.cpu().double().numpy().round(6)
