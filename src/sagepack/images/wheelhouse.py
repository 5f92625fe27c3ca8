"""The wheelhouse: a lock's wheels downloaded on the host, cached by the lock's hash.

``<cache>/<arch>/<sha256 of the lock>/`` holds exactly one wheel per locked requirement, each
for CPython 3.11 on manylinux of the variant's architecture (``x86_64``, ``aarch64``: a
lock's text can be the same for both, since uv lists every file's hash) and each with a
sha256 the lock lists; ``manifest.json``
records them. The image build installs only from there, with no network. Wheels come from
the variant's package indexes (credentials through pip's environment, taken out of every
message), else PyPI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging import tags
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, NormalizedName, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from sagepack.config.indexes import IndexSet
from sagepack.errors import LockError
from sagepack.files import file_sha256, write_json
from sagepack.images.lock import LockedRequirement, lock_sha256, read_lock
from sagepack.platforms import ABI, DEFAULT, PYTHON_VERSION, PYTHON_VERSION_INFO, Platform


def image_tags(platform: Platform) -> frozenset[Tag]:
    """Every wheel tag the image's interpreter accepts, as pip on the image computes them."""
    return frozenset((
        *tags.cpython_tags(python_version=PYTHON_VERSION_INFO, abis=[ABI],
                           platforms=platform.wheel_platforms),
        *tags.compatible_tags(python_version=PYTHON_VERSION_INFO, interpreter=ABI,
                              platforms=platform.wheel_platforms),
    ))

MANIFEST = "manifest.json"
CHUNK = 4 * 1024 * 1024

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Wheel:
    filename: str
    name: str
    version: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Wheelhouse:
    """A verified folder of wheels for one lock."""

    path: Path
    lock: Path
    lock_sha256: str
    wheels: tuple[Wheel, ...]
    downloaded: bool

    @property
    def size(self) -> int:
        return sum(w.size for w in self.wheels)


def parse_wheel_name(filename: str) -> tuple[NormalizedName, Version, frozenset[Tag]]:
    """(normalised name, version, tags) of a wheel file name."""
    try:
        name, version, _, wheel_tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise LockError(f"not a wheel file name: {filename} ({exc})") from None
    return name, version, wheel_tags


def wheel_fits_image(filename: str, platform: Platform = DEFAULT) -> bool:
    """Whether a wheel installs on the image: CPython 3.11, manylinux of ``platform``'s
    architecture (or pure)."""
    return not parse_wheel_name(filename)[2].isdisjoint(image_tags(platform))


def _same_version(a: Version, b: str) -> bool:
    try:
        return a == Version(b)
    except InvalidVersion:
        return False


def verify(folder: Path, requirements: Sequence[LockedRequirement], lock: Path,
           *, rehash: bool = True, platform: Platform = DEFAULT) -> tuple[Wheel, ...]:
    """Check ``folder`` holds exactly the lock's wheels; raise :class:`LockError` naming
    the package that does not match."""
    by_key: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.whl")):
        by_key.setdefault(parse_wheel_name(path.name)[0], []).append(path)
    wanted = {r.key for r in requirements}
    extra = sorted(set(by_key) - wanted)
    if extra:
        raise LockError(f"wheelhouse {folder} does not match {lock}: wheels for "
                        f"{', '.join(extra)} are not in the lock")
    recorded = _read_manifest(folder) if not rehash else {}
    wheels: list[Wheel] = []
    for req in requirements:
        candidates = [p for p in by_key.get(req.key, [])
                      if _same_version(parse_wheel_name(p.name)[1], req.version)]
        if not candidates:
            raise LockError(f"{req.name}=={req.version}: no wheel in the wheelhouse {folder} "
                            f"(lock {lock}); none for CPython {PYTHON_VERSION} manylinux "
                            f"{platform.arch}?")
        if len(candidates) > 1:
            raise LockError(f"{req.name}=={req.version}: several wheels in {folder}: "
                            f"{', '.join(p.name for p in candidates)}")
        path = candidates[0]
        if not wheel_fits_image(path.name, platform):
            raise LockError(f"{req.name}=={req.version}: wheel {path.name} does not fit "
                            f"CPython {PYTHON_VERSION} on manylinux {platform.arch}")
        digest = recorded.get(path.name) or file_sha256(path)
        if digest not in req.hashes:
            raise LockError(f"{req.name}=={req.version}: wheel {path.name} has sha256 "
                            f"{digest}, which {lock} does not list")
        wheels.append(Wheel(path.name, req.name, req.version, digest, path.stat().st_size))
    return tuple(wheels)


def _read_manifest(folder: Path) -> dict[str, str]:
    import json

    file = folder / MANIFEST
    if not file.is_file():
        return {}
    data = json.loads(file.read_text(encoding="utf-8"))
    return {w["filename"]: w["sha256"] for w in data.get("wheels", [])}


def _pip_download(lock: Path, dest: Path, indexes: IndexSet, platform: Platform) -> None:
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
            "--no-input", "--only-binary=:all:", "--no-deps", "--require-hashes",
            "--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", ABI,
            *(arg for plat in platform.wheel_platforms for arg in ("--platform", plat)),
            "-r", str(lock), "-d", str(dest)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env=indexes.pip_env())
    if proc.returncode == 0:
        return
    output = indexes.redact(proc.stdout + proc.stderr)
    culprits = _culprits(output)
    tail = "\n".join(line for line in output.strip().splitlines()
                     if not line.startswith("WARNING: Location"))[-2000:]
    what = ", ".join(culprits) if culprits else "see pip's output"
    where = f" from {indexes.describe()}" if indexes.indexes else ""
    raise LockError(f"downloading the {platform.arch} wheels of {lock}{where} failed "
                    f"({what}):\n{tail}")


def _culprits(output: str) -> list[str]:
    found: list[str] = []
    patterns = (
        r"No matching distribution found for (\S+)",
        r"^\s+(\S+==\S+) from ",  # hash mismatch lines
        r"Could not find a version that satisfies the requirement (\S+)",
    )
    for pattern in patterns:
        for match in re.finditer(pattern, output, re.MULTILINE):
            if match.group(1) not in found:
                found.append(match.group(1))
    if "DO NOT MATCH THE HASHES" in output:
        found = [f"hash mismatch: {c}" for c in found] or ["hash mismatch"]
    return found


def wheelhouse_folder(cache_dir: Path, lock: Path, platform: Platform = DEFAULT) -> Path:
    """Where the wheelhouse of ``lock`` for ``platform`` lives: ``<cache>/<arch>/<sha256>``."""
    return cache_dir / platform.arch / lock_sha256(lock)


def ensure_wheelhouse(lock: Path, cache_dir: Path, *, log: Log = _quiet,
                      indexes: IndexSet | None = None,
                      platform: Platform = DEFAULT) -> Wheelhouse:
    """The verified wheelhouse of ``lock`` for ``platform`` under ``cache_dir``,
    downloading it (from ``indexes``, else PyPI) if needed."""
    requirements = read_lock(lock)
    key = lock_sha256(lock)
    folder = wheelhouse_folder(cache_dir, lock, platform)
    if (folder / MANIFEST).is_file():
        wheels = verify(folder, requirements, lock, rehash=False, platform=platform)
        return Wheelhouse(folder, lock, key, wheels, downloaded=False)
    cache_dir.mkdir(parents=True, exist_ok=True)
    log(f"downloading {len(requirements)} locked {platform.arch} wheels of {lock.name} "
        f"into {folder}")
    staging = Path(tempfile.mkdtemp(prefix=f".{platform.arch}-{key[:12]}-", dir=cache_dir))
    try:
        _pip_download(lock, staging, indexes or IndexSet(), platform)
        wheels = verify(staging, requirements, lock, rehash=True, platform=platform)
        write_json(staging / MANIFEST, {
            "lock": lock.name, "lock_sha256": key, "platform": platform.docker,
            "wheels": [{"filename": w.filename, "name": w.name, "version": w.version,
                        "sha256": w.sha256, "size": w.size} for w in wheels],
        })
        if folder.exists():  # a concurrent download finished first
            shutil.rmtree(staging)
        else:
            folder.parent.mkdir(exist_ok=True)
            staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Wheelhouse(folder, lock, key, wheels, downloaded=True)
