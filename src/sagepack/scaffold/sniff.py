"""What a model file says about itself, read without loading it.

Nothing here unpickles, imports a framework or runs the artifact: pickles are scanned as
bytes (scikit-learn records ``_sklearn_version`` and ``n_features_in_`` in every fitted
estimator's state), XGBoost's JSON is parsed as JSON, PyTorch's zip is listed, a
safetensors header is read as JSON and an ONNX file is walked as protobuf
(:mod:`.onnx_proto`). Each reader returns what it found, or nothing.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

#: Pickles bigger than this (uncompressed) are not scanned.
MAX_SCAN_BYTES = 1024 * 1024 * 1024
_CHUNK = 16 * 1024 * 1024
#: Framework modules whose classes a pickle names: its requirements.
PICKLE_MODULES = {"sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm",
                  "catboost": "catboost", "pandas": "pandas", "scipy": "scipy"}
_MODULE = re.compile(rb"(?<![A-Za-z0-9_.])(" + b"|".join(m.encode() for m in PICKLE_MODULES)
                     + rb")(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


@dataclass(frozen=True)
class PickleFacts:
    """What the bytes of a pickle (or joblib file) show."""

    modules: frozenset[str]
    """Top-level modules whose classes it names (``sklearn``, ``xgboost``...)."""
    sklearn_versions: tuple[str, ...] = ()
    """Every distinct ``_sklearn_version`` recorded, in order of appearance."""
    n_features: int | None = None
    """The first ``n_features_in_`` recorded: the input width of the first step."""
    scanned: bool = True
    """False when the file was too big, or compressed in a way not read here."""


def _opened(path: Path) -> Iterator[bytes]:
    """The file's bytes in chunks, decompressed when joblib compressed it."""
    with path.open("rb") as fh:
        head = fh.read(6)
    if head[:1] == b"\x78" and head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        yield from _inflated(path)
        return
    with _open(path, head) as stream:
        while block := stream.read(_CHUNK):
            yield block


def _open(path: Path, head: bytes) -> IO[bytes]:
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.open(path, "rb"))
    if head.startswith((b"\xfd7zXZ\x00", b"\x5d\x00\x00")):
        return cast(IO[bytes], lzma.open(path, "rb"))
    return path.open("rb")


def _inflated(path: Path) -> Iterator[bytes]:
    inflate = zlib.decompressobj()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            yield inflate.decompress(block, _CHUNK)
            while inflate.unconsumed_tail:
                yield inflate.decompress(inflate.unconsumed_tail, _CHUNK)


def read_pickle(path: Path) -> PickleFacts:
    """Scan a ``.pkl`` / ``.joblib`` file for the modules, versions and width it records."""
    data = bytearray()
    try:
        for block in _opened(path):
            data += block
            if len(data) > MAX_SCAN_BYTES:
                return PickleFacts(frozenset(), scanned=False)
    except (OSError, EOFError, zlib.error, lzma.LZMAError):
        return PickleFacts(frozenset(), scanned=False)
    raw = bytes(data)
    modules = frozenset(m.group(1).decode() for m in _MODULE.finditer(raw))
    versions = tuple(dict.fromkeys(_strings_after(raw, b"_sklearn_version")))
    widths = _ints_after(raw, b"n_features_in_")
    return PickleFacts(modules, versions, widths[0] if widths else None)


def _skip_memo(data: bytes, pos: int) -> int:
    """Past a MEMOIZE / BINPUT / LONG_BINPUT opcode at ``pos``, if there is one."""
    op = data[pos:pos + 1]
    return pos + {b"\x94": 1, b"q": 2, b"r": 5}.get(op, 0)


def _strings_after(data: bytes, key: bytes) -> list[str]:
    """The pickled strings that follow each pickled string ``key`` (a dict's value)."""
    found: list[str] = []
    for match in re.finditer(re.escape(key), data):
        pos = _skip_memo(data, match.end())
        op = data[pos:pos + 1]
        if op in (b"\x8c", b"U"):
            size, start = data[pos + 1] if pos + 1 < len(data) else 0, pos + 2
        elif op == b"X":
            size, start = int.from_bytes(data[pos + 1:pos + 5], "little"), pos + 5
        else:
            continue
        try:
            found.append(data[start:start + size].decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return found


def _ints_after(data: bytes, key: bytes) -> list[int]:
    """The pickled integers that follow each pickled string ``key``."""
    found: list[int] = []
    for match in re.finditer(re.escape(key), data):
        pos = _skip_memo(data, match.end())
        op = data[pos:pos + 1]
        width = {b"K": 1, b"M": 2, b"J": 4}.get(op)
        if width is not None and pos + 1 + width <= len(data):
            found.append(int.from_bytes(data[pos + 1:pos + 1 + width], "little",
                                        signed=op == b"J"))
    return found


@dataclass(frozen=True)
class XGBoostFacts:
    version: str | None
    n_features: int | None
    objective: str | None


def read_xgboost_json(path: Path) -> XGBoostFacts | None:
    """An XGBoost model saved as JSON (``Booster.save_model("m.json")``), or None when the
    file is some other JSON."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("learner"), dict):
        return None
    learner = data["learner"]
    version = data.get("version")
    text = ".".join(str(int(v)) for v in version) if isinstance(version, list) and \
        all(isinstance(v, int) for v in version) and version else None
    params = learner.get("learner_model_param", {})
    width = params.get("num_feature") if isinstance(params, dict) else None
    objective = learner.get("objective", {})
    name = objective.get("name") if isinstance(objective, dict) else None
    return XGBoostFacts(text, int(str(width)) if str(width).isdigit() else None,
                        name if isinstance(name, str) else None)


#: How a PyTorch file holds its model.
TORCHSCRIPT, STATE_DICT, PICKLED_MODULE, SAFETENSORS, UNKNOWN = (
    "torchscript", "state_dict", "module", "safetensors", "unknown")


def read_torch(path: Path) -> str:
    """Which kind of PyTorch file: TorchScript (``torch.jit.save``), a state dict or a whole
    pickled module (``torch.save``), or unknown (the legacy non-zip format)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
                return TORCHSCRIPT
            pickles = [n for n in names if n.endswith("/data.pkl")]
            if not pickles:
                return UNKNOWN
            with zf.open(pickles[0]) as fh:
                head = fh.read(MAX_SCAN_BYTES)
    except (OSError, zipfile.BadZipFile):
        return UNKNOWN
    if b"torch.nn.modules" in head or b"__main__" in head:
        return PICKLED_MODULE
    if b"OrderedDict" in head or b"_rebuild_tensor" in head:
        return STATE_DICT
    return UNKNOWN


def read_safetensors(path: Path) -> dict[str, object] | None:
    """The header of a ``.safetensors`` file (tensor names -> dtype and shape), or None."""
    try:
        with path.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            if not 0 < size <= 100 * 1024 * 1024:
                return None
            header = json.loads(fh.read(size))
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) else None
