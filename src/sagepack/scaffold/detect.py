"""Which framework a model folder holds, guessed from its files (and its handler's imports),
with every reason said: what was found where, what version the artifact records, what was
passed over.

The model files are looked at by extension and, where the format allows, by content
(:mod:`.sniff`): ``.onnx`` (ONNX), ``.json`` / ``.ubj`` / ``.bst`` (XGBoost; a ``.json`` only
when it holds a learner), ``.pt`` / ``.pth`` (PyTorch: TorchScript, a state dict or a
pickled module), ``.safetensors`` (PyTorch weights), ``.joblib`` / ``.pkl`` / ``.pickle``
(scikit-learn and whatever else the pickle names). A handler brought with the model
(``code/inference.py``) is read for its imports: they name its requirements.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.version import InvalidVersion, Version

from sagepack.scaffold import sniff
from sagepack.scaffold.onnx_proto import read_inputs

SKLEARN, XGBOOST, ONNX, PYTORCH, GENERIC = "sklearn", "xgboost", "onnx", "pytorch", "generic"
TITLES = {SKLEARN: "scikit-learn", XGBOOST: "XGBoost", ONNX: "ONNX", PYTORCH: "PyTorch",
          GENERIC: "no known framework"}
#: When files of several frameworks are present, the first in this order is served.
PRIORITY = (ONNX, XGBOOST, PYTORCH, SKLEARN)
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
_SUFFIXES = {".onnx": ONNX, ".ubj": XGBOOST, ".bst": XGBOOST, ".pt": PYTORCH, ".pth": PYTORCH,
             ".safetensors": PYTORCH, ".json": XGBOOST,
             **dict.fromkeys(PICKLE_SUFFIXES, SKLEARN)}
#: Where files are not model files: the handler, and what sagepack keeps beside the model.
NOT_MODEL_DIRS = ("code", "samples", "requirements")
#: Import names whose distribution is named otherwise.
IMPORT_PACKAGES = {"sklearn": "scikit-learn", "PIL": "pillow", "cv2": "opencv-python-headless",
                   "yaml": "pyyaml", "skimage": "scikit-image"}
#: The first release of ``xgboost-cpu`` (the CPU-only wheel, without NCCL).
XGBOOST_CPU_SINCE = Version("2.1.0")


@dataclass(frozen=True)
class Requirement:
    """One line of ``requirements/cpu.in`` and why it is there."""

    spec: str
    why: str


@dataclass(frozen=True)
class Guess:
    """The framework served, its model file, and everything that was guessed and why."""

    framework: str
    model_file: str | None
    """The file ``model_fn`` loads, relative to the model folder (POSIX)."""
    flavour: str = ""
    """How PyTorch holds the model (:data:`sniff.TORCHSCRIPT`...), else empty."""
    requirements: tuple[Requirement, ...] = ()
    n_features: int | None = None
    """The input width, when the artifact records it: the sample is one row of it."""
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return TITLES[self.framework]


@dataclass
class _Found:
    framework: str
    path: str
    flavour: str = ""
    requirements: list[Requirement] = field(default_factory=list)
    n_features: int | None = None
    notes: list[str] = field(default_factory=list)


def model_files(folder: Path) -> list[str]:
    """The model folder's files that may be a model (POSIX, relative, sorted)."""
    found: list[str] = []
    for path in sorted(folder.rglob("*")):
        rel = PurePosixPath(path.relative_to(folder).as_posix())
        if not path.is_file() or rel.parts[0] in NOT_MODEL_DIRS or \
                any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if rel.suffix.lower() in _SUFFIXES:
            found.append(str(rel))
    return found


def _pin(package: str, version: str | None, what: str) -> Requirement:
    if version is None:
        return Requirement(package, f"{what}; the artifact records no version")
    return Requirement(f"{package}=={version}", f"{what}, saved with {version}")


def _xgboost_package(version: str | None) -> str:
    try:
        return "xgboost-cpu" if version is None or Version(version) >= XGBOOST_CPU_SINCE \
            else "xgboost"
    except InvalidVersion:
        return "xgboost"


def _look(folder: Path, rel: str) -> _Found | None:
    """What one file is, or None when it is no model (a ``.json`` of labels, say)."""
    path = folder / rel
    suffix = PurePosixPath(rel).suffix.lower()
    kind = _SUFFIXES[suffix]
    if kind == ONNX:
        found = _Found(ONNX, rel, requirements=[Requirement("onnxruntime", "runs the .onnx")])
        inputs = read_inputs(path)
        if inputs and len(inputs) == 1 and len(inputs[0].shape) == 2 and \
                isinstance(inputs[0].shape[1], int):
            found.n_features = inputs[0].shape[1]
            found.notes.append(f"{rel}: input {inputs[0].name!r} is {inputs[0].elem_type} "
                               f"rows of {found.n_features}")
        elif inputs:
            found.notes.append(f"{rel}: inputs " + ", ".join(
                f"{i.name!r} {i.elem_type} {list(i.shape)}" for i in inputs))
        return found
    if kind == XGBOOST:
        return _look_xgboost(path, rel, suffix)
    if kind == PYTORCH:
        return _look_torch(path, rel, suffix)
    return _look_pickle(path, rel)


def _look_xgboost(path: Path, rel: str, suffix: str) -> _Found | None:
    if suffix == ".json":
        facts = sniff.read_xgboost_json(path)
        if facts is None:
            return None
        package = _xgboost_package(facts.version)
        found = _Found(XGBOOST, rel, requirements=[
            _pin(package, facts.version, "loads the XGBoost model")])
        found.n_features = facts.n_features
        found.notes.append(f"{rel}: an XGBoost learner (objective {facts.objective or '?'}, "
                           f"{facts.n_features or '?'} features"
                           + (f", saved with XGBoost {facts.version} (pinned))"
                              if facts.version else ")"))
        return found
    return _Found(XGBOOST, rel, requirements=[Requirement(
        "xgboost-cpu", f"loads the XGBoost model; {suffix} files record no version here")],
        notes=[f"{rel}: an XGBoost model by its extension"])


def _look_torch(path: Path, rel: str, suffix: str) -> _Found:
    needs = [Requirement("torch", "runs the network; torch files record no torch version")]
    if suffix == ".safetensors":
        header = sniff.read_safetensors(path)
        tensors = len([k for k in header if k != "__metadata__"]) if header else 0
        return _Found(PYTORCH, rel, sniff.SAFETENSORS,
                      [*needs, Requirement("safetensors", "reads the weights")],
                      notes=[f"{rel}: safetensors weights ({tensors} tensors): the network's "
                             "class must be written in the handler"])
    flavour = sniff.read_torch(path)
    what = {sniff.TORCHSCRIPT: "a TorchScript module (torch.jit.save): loads on its own",
            sniff.STATE_DICT: "a state dict (torch.save(model.state_dict())): the network's "
                              "class must be written in the handler",
            sniff.PICKLED_MODULE: "a whole pickled module (torch.save(model)): its class must "
                                  "be importable from the handler's folder",
            sniff.UNKNOWN: "a torch file of a kind not recognised (legacy format?)"}[flavour]
    return _Found(PYTORCH, rel, flavour, needs, notes=[f"{rel}: {what}"])


def _look_pickle(path: Path, rel: str) -> _Found:
    facts = sniff.read_pickle(path)
    found = _Found(SKLEARN, rel)
    versions = facts.sklearn_versions
    if "sklearn" in facts.modules or versions:
        version = versions[0] if len(versions) == 1 else None
        found.requirements.append(_pin("scikit-learn", version,
                                       "unpickles the scikit-learn estimator"))
        if len(versions) > 1:
            found.notes.append(f"{rel}: estimators saved with several scikit-learn versions "
                               f"({', '.join(versions)}): none pinned")
    for module in sorted(facts.modules - {"sklearn"}):
        found.requirements.append(Requirement(sniff.PICKLE_MODULES[module],
                                              f"the pickle names {module} classes"))
    found.requirements.append(Requirement("joblib", "loads the pickle"))
    found.n_features = facts.n_features
    if not facts.scanned:
        found.notes.append(f"{rel}: a pickle too big or compressed in a way not read here: "
                           "its framework and versions were not looked for")
    elif not facts.modules:
        found.notes.append(f"{rel}: a pickle naming no known framework module")
    else:
        found.notes.append(f"{rel}: a pickle of {', '.join(sorted(facts.modules))} objects"
                           + (f", {facts.n_features} input features" if facts.n_features
                              else "")
                           + (f", saved with scikit-learn {versions[0]} (pinned)"
                              if len(versions) == 1 else ""))
    return found


def handler_imports(handler: Path) -> list[str]:
    """The top-level modules ``handler`` imports that are neither standard library nor
    its own folder's modules, in order of appearance."""
    tree = ast.parse(handler.read_text(encoding="utf-8"), filename=str(handler))
    local = {p.stem for p in handler.parent.glob("*.py")} | \
        {p.name for p in handler.parent.iterdir() if p.is_dir()}
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module.split(".")[0])
    return [n for n in dict.fromkeys(names) if n not in sys.stdlib_module_names
            and n not in local and n != "sagepack"]


def _merge(requirements: Iterable[Requirement]) -> tuple[Requirement, ...]:
    """One line per distribution: the first pinned one, else the first."""
    by_name: dict[str, Requirement] = {}
    for req in requirements:
        name = req.spec.split("==")[0]
        if name not in by_name or ("==" in req.spec and "==" not in by_name[name].spec):
            by_name[name] = req
    return tuple(by_name.values())


def guess(folder: Path, handler: Path | None = None) -> Guess:
    """The framework of the model in ``folder``; ``handler``: the one it came with, if any."""
    candidates = [f for rel in model_files(folder) if (f := _look(folder, rel)) is not None]
    reasons: list[str] = []
    warnings: list[str] = []
    chosen: _Found | None = None
    for framework in PRIORITY:
        same = [c for c in candidates if c.framework == framework]
        if same:
            chosen = max(same, key=lambda c: (folder / c.path).stat().st_size)
            break
    if chosen is not None:
        reasons.extend(chosen.notes)
        others = [c.path for c in candidates if c is not chosen]
        if others:
            reasons.append(f"served: {chosen.path}; also found, not loaded by the handler: "
                           + ", ".join(others))
    else:
        reasons.append("no file of a known model format (.onnx, .joblib/.pkl, XGBoost "
                       ".json/.ubj/.bst, .pt/.pth, .safetensors): the handler is a template "
                       "to fill in")
    requirements = list(chosen.requirements) if chosen else []
    if handler is not None:
        imports = handler_imports(handler)
        listed = ", ".join(imports) or "nothing outside the standard library"
        reasons.append(f"code/{handler.name} imports {listed}: kept as the handler")
        requirements = [*(Requirement(IMPORT_PACKAGES.get(n, n), f"imported by {handler.name}")
                          for n in imports), *requirements]
        xgboost_pins = [r for r in requirements if r.spec.startswith("xgboost")]
        if "xgboost" in imports and xgboost_pins:  # the artifact's pin, under the import's name
            requirements = [r for r in requirements if not r.spec.startswith("xgboost")]
            requirements.insert(0, max(xgboost_pins, key=lambda r: "==" in r.spec))
    requirements.append(Requirement("numpy", "the default codecs decode requests into numpy "
                                             "arrays"))
    framework = chosen.framework if chosen else GENERIC
    return Guess(framework=framework, model_file=chosen.path if chosen else None,
                 flavour=chosen.flavour if chosen else "", requirements=_merge(requirements),
                 n_features=chosen.n_features if chosen else None, reasons=tuple(reasons),
                 warnings=tuple(warnings))
