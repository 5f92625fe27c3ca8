"""The files ``invoke new`` writes: the handler of the guessed framework, ``sagepack.toml``,
``requirements/cpu.in`` and the sample's request."""

from __future__ import annotations

from pathlib import Path
from string import Template

from sagepack.scaffold import sniff
from sagepack.scaffold.detect import GENERIC, PYTORCH, Guess, Requirement

TEMPLATES = Path(__file__).parent / "templates"
SAMPLE_BODY = "samples/request.csv"
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
_TORCH_INDEX = f'''
# PyTorch's CPU-only wheels: PyPI's torch for Linux brings the CUDA libraries (gigabytes).
[[variants.cpu.index]]
name = "pytorch-cpu"
url = "{PYTORCH_CPU_INDEX}"
'''

_TORCH_LOADERS = {
    sniff.TORCHSCRIPT: '''\
def model_fn(model_dir, context=None):
    model = torch.jit.load(os.path.join(model_dir, MODEL_FILE), map_location=_device(context))
    return model.eval()''',
    sniff.PICKLED_MODULE: '''\
def model_fn(model_dir, context=None):
    # A whole pickled module: its class must be importable here (put the module that
    # defines it in code/, beside this file).
    model = torch.load(os.path.join(model_dir, MODEL_FILE), map_location=_device(context),
                       weights_only=False)
    return model.eval()''',
}
_TORCH_WEIGHTS = '''\
class Net(torch.nn.Module):
    """TODO: the network the weights were trained in (the same layers, the same names)."""

    def __init__(self):
        super().__init__()
        raise NotImplementedError("Net in code/inference.py is still the template: write the "
                                  f"network whose weights {MODEL_FILE} holds")

    def forward(self, x):
        raise NotImplementedError


def model_fn(model_dir, context=None):
    device = _device(context)
    $read
    model = Net()
    model.load_state_dict(state)
    return model.to(device).eval()'''
_READS = {
    sniff.SAFETENSORS: "from safetensors.torch import load_file\n\n"
                       "    state = load_file(os.path.join(model_dir, MODEL_FILE), "
                       "device=str(device))",
    "": "state = torch.load(os.path.join(model_dir, MODEL_FILE), map_location=device,\n"
        "                       weights_only=True)",
}


def _torch_loader(flavour: str) -> str:
    if flavour in _TORCH_LOADERS:
        return _TORCH_LOADERS[flavour]
    return Template(_TORCH_WEIGHTS).substitute(read=_READS.get(flavour, _READS[""]))


def render_handler(name: str, guess: Guess) -> str:
    """``code/inference.py`` for ``guess``'s framework."""
    text = (TEMPLATES / f"{guess.framework}.py.tmpl").read_text(encoding="utf-8")
    values = {"name": name, "model_file": repr(guess.model_file or ""),
              "why": "no model file of a known format was found"}
    if guess.framework == PYTORCH:
        values["flavour"] = guess.flavour
        values["loader"] = _torch_loader(guess.flavour)
    return Template(text).substitute(values)


def render_requirements(name: str, requirements: tuple[Requirement, ...],
                        declared: list[str] | None = None) -> str:
    """``requirements/cpu.in``: one requirement a line, each with why it is there (or the
    lines of the ``code/requirements.txt`` the model came with)."""
    head = [f"# Run-time dependencies of the {name} model's CPU image (locked into cpu.txt "
            "by `invoke lock`)."]
    if declared is not None:
        head.append("# From the model's code/requirements.txt, with what its files need.")
        names = {_name(line) for line in declared if _name(line)}
        extra = [f"{r.spec}  # {r.why}" for r in requirements if _name(r.spec) not in names]
        return "\n".join([*head, *declared, *extra]) + "\n"
    head.append("# Written by `invoke new` from what the model's files and handler show.")
    return "\n".join([*head, *(f"{r.spec}  # {r.why}" for r in requirements)]) + "\n"


def _name(line: str) -> str:
    """The distribution a requirement line names (lower case), or empty."""
    text = line.split("#", 1)[0].strip()
    if not text or text.startswith("-"):
        return ""
    for stop in "=<>!~;[ @":
        text = text.split(stop, 1)[0]
    return text.strip().lower().replace("_", "-")


def render_sample(guess: Guess) -> tuple[str, str]:
    """The sample request (one CSV row) and how it was made."""
    if guess.n_features:
        row = ",".join(["0.0"] * guess.n_features)
        return row + "\n", (f"{SAMPLE_BODY}: one row of {guess.n_features} zeros (the "
                            "model's input width); put a real row there")
    return "0.0\n", (f"{SAMPLE_BODY}: a placeholder (the model's input width is not "
                     "recorded): replace it with a real request")


def render_config(name: str, guess: Guess, *, handler: str) -> str:
    """``sagepack.toml`` of the new model: one CPU variant and one sample without an
    expected response (``invoke test --record`` writes it)."""
    about = guess.title if guess.framework != GENERIC else "model"
    served = f" ({guess.model_file})" if guess.model_file else ""
    return f'''\
# Written by `invoke new`: a {about} model{served}. See the README's "Your model".
name = "{name}"
version = "0.1.0"
description = "{name}: {about} model."
handler = "{handler}"
artifact_mode = "dynamic"
content_types = ["text/csv", "application/json", "application/jsonlines"]
response_types = ["application/json", "text/csv", "application/jsonlines"]
realtime_instance_types = ["ml.m5.large"]
transform_instance_types = ["ml.m5.large"]

[variants.cpu]
requirements_in = "requirements/cpu.in"
requirements = "requirements/cpu.txt"      # written by `invoke lock`
{_TORCH_INDEX if guess.framework == PYTORCH else ""}
# Sent by `invoke test`, which checks it answers 2xx; `invoke test --record` writes the
# answer as its expected response, compared from then on.
[[samples]]
name = "csv"
body = "{SAMPLE_BODY}"
content_type = "text/csv"
accept = "application/json"
'''
