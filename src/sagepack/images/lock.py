"""Locking a variant's requirements with hashes for the image's platform, not the host's.

``containers/requirements/serving.in`` (the serving runtime's dependencies) and the
variant's ``.in`` are resolved together by ``uv pip compile`` for CPython 3.11 on the
variant's platform (manylinux x86_64 or aarch64), wheels only, with every hash. uv runs in the project root with relative paths, so
the lock names no host path and is the same on any machine. The variant's package indexes
(:mod:`sagepack.config.indexes`) reach uv through its environment, credentials included;
the lock names no index, and every message quoting uv has the credentials taken out.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from sagepack.config import ModelConfig, Settings, Variant
from sagepack.errors import LockError
from sagepack.files import atomic_path
from sagepack.images.cuda import check_lock as check_cuda_lock
from sagepack.platforms import PYTHON_VERSION

SERVING_IN = Path("containers/requirements/serving.in")
LOCK_COMMAND = "invoke lock"

# pip's requirements-file syntax (not a PEP): options such as --hash follow the requirement.
_OPTIONS = re.compile(r"\s--[A-Za-z]")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
_COMMENT = re.compile(r"(^|\s)#.*")


@dataclass(frozen=True)
class LockedRequirement:
    """One ``name==version`` line of a lock with its allowed sha256 hashes."""

    name: str
    version: str
    hashes: frozenset[str]

    @property
    def key(self) -> NormalizedName:
        return canonicalize_name(self.name)


@dataclass(frozen=True)
class RequirementLine:
    """One requirement of a requirements file: where it is, what it says, its options."""

    file: Path
    number: int
    requirement: Requirement
    options: str

    @property
    def key(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)


def project_root_of(model: ModelConfig) -> Path:
    """The nearest folder above the model holding ``pyproject.toml``."""
    for parent in model.root.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    raise LockError(f"no pyproject.toml above {model.root}: cannot find {SERVING_IN}")


def _uv() -> list[str]:
    found = uv_binary()
    return [str(found)] if found else [sys.executable, "-m", "uv"]


def uv_binary() -> Path | None:
    """The uv executable: beside this interpreter, on PATH, or the uv package's."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return beside
    found = shutil.which("uv")
    if found:
        return Path(found)
    try:
        import uv
    except ImportError:
        return None
    return Path(uv.find_uv_bin())


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def lock(model: ModelConfig, variant: Variant | str, *,
         project_root: Path | None = None, upgrade: bool = False) -> Path:
    """Resolve ``serving.in`` + the variant's ``.in`` into its hashed lock; return its path.

    Versions already pinned in an existing lock are kept unless ``upgrade``.
    """
    var = model.variant(variant) if isinstance(variant, str) else variant
    root = project_root or project_root_of(model)
    serving_in = root / SERVING_IN
    for source in (serving_in, var.requirements_in):
        if not source.is_file():
            raise LockError(f"requirements file not found: {source}")
    dest = var.requirements
    with atomic_path(dest) as tmp:
        if dest.is_file() and not upgrade:
            shutil.copyfile(dest, tmp)  # uv keeps the versions the output file pins
        argv = [*_uv(), "pip", "compile", "--quiet", "--generate-hashes",
                "--python-version", PYTHON_VERSION,
                "--python-platform", var.platform.uv_platform,
                "--only-binary", ":all:", "--custom-compile-command",
                f"{LOCK_COMMAND} --model {model.name}",
                "--output-file", str(tmp),
                _relative(serving_in, root), _relative(var.requirements_in, root)]
        if upgrade:
            argv.append("--upgrade")
        proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False,
                              env=var.indexes.uv_env())
        if proc.returncode != 0:
            where = f" (indexes: {var.indexes.describe()})" if var.indexes.indexes else ""
            output = var.indexes.redact((proc.stderr or proc.stdout).strip())
            missing = no_wheel_for(output)
            what = (f": no {var.platform.arch} wheel of {', '.join(missing)} for CPython "
                    f"{PYTHON_VERSION} on manylinux (the lock takes wheels only)"
                    if missing else "")
            raise LockError(f"locking {_relative(var.requirements_in, root)} for "
                            f"{var.platform.docker} failed{where}{what}:\n{output}")
        if var.cuda is not None:  # a refused lock leaves the old file in place
            check_cuda_lock(((r.name, r.version) for r in read_lock(tmp)), var.cuda,
                            _relative(dest, root))
    return dest


# uv: "Because foo>=1.15.0 has no wheels with a matching platform tag (e.g.,
# `manylinux_2_28_aarch64`) and you require foo, ..." and "hint: Wheels are available for
# `foo` (v1.2) on the following platforms: ...".
_NO_WHEEL = (
    re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:[=<>!~]=?[^\s,]*)? has no wheels with a "
               r"matching platform tag"),
    re.compile(r"Wheels are available for `([^`]+)`[^\n]* on the following platforms?"),
)


def no_wheel_for(output: str) -> list[str]:
    """The packages uv's resolver output says have no wheel for the platform asked for."""
    found: list[str] = []
    for pattern in _NO_WHEEL:
        for match in pattern.finditer(output):
            name = str(canonicalize_name(match.group(1)))
            if name not in found:
                found.append(name)
    return found


def read_requirements(path: Path) -> list[RequirementLine]:
    """The requirements of a pip requirements file (``.in`` or lock), one per logical line
    (continuations joined, comments and option-only lines such as ``-r`` skipped)."""
    found: list[RequirementLine] = []
    for number, line in _logical_lines(path.read_text(encoding="utf-8").splitlines()):
        options = _OPTIONS.search(line)
        text = line[:options.start()].strip() if options else line
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise LockError(f"{path}:{number}: not a requirement: {text!r} ({exc})") from None
        found.append(RequirementLine(path, number, requirement,
                                     line[options.start():] if options else ""))
    return found


def read_lock(path: Path) -> list[LockedRequirement]:
    """Parse a hashed lock; every requirement must be pinned with ``==`` and hashed."""
    if not path.is_file():
        raise LockError(f"lock file not found: {path} (run `{LOCK_COMMAND}`)")
    requirements: list[LockedRequirement] = []
    for line in read_requirements(path):
        specs = list(line.requirement.specifier)
        if (len(specs) != 1 or specs[0].operator != "==" or specs[0].version.endswith("*")
                or line.requirement.url):
            raise LockError(f"{path}:{line.number}: expected 'name==version --hash=...', "
                            f"got {str(line.requirement)!r}")
        hashes = frozenset(_HASH.findall(line.options))
        if not hashes:
            raise LockError(f"{path}:{line.number}: {line.requirement.name} has no --hash")
        requirements.append(LockedRequirement(line.requirement.name, specs[0].version,
                                              hashes))
    return requirements


def _logical_lines(lines: Sequence[str]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    current = ""
    start = 0
    for number, raw in enumerate(lines, 1):
        text = _COMMENT.sub("", raw).strip()
        if not current:
            start = number
        if text.endswith("\\"):
            current += text[:-1] + " "
            continue
        current += text
        if current.strip() and not current.lstrip().startswith("-"):
            out.append((start, current.strip()))
        current = ""
    if current.strip():
        out.append((start, current.strip()))
    return out


def lock_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lock_models(settings: Settings, *, model: str | None = None, variant: str = "all",
                upgrade: bool = False) -> list[Path]:
    """``invoke lock``: lock every selected model's selected variants; the locks' paths."""
    paths: list[Path] = []
    for config in settings.select(model):
        names = sorted(config.variants) if variant == "all" else [variant]
        for name in names:
            paths.append(lock(config, name, project_root=settings.project.root,
                              upgrade=upgrade))
    return paths
