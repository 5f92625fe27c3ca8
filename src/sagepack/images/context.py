"""The build context: one tar, assembled from its sources, sorted, owned by root.

Layout (see ``containers/Dockerfile``)::

    Dockerfile            containers/Dockerfile with the model's ENV lines
    requirements.txt      the variant's lock
    wheels/               the lock's wheelhouse
    tools/uv              for another platform than the build machine's (else empty)
    runtime/sagepack/     __init__.py, errors.py, py.typed, serving/ (nothing else)
    runtime/serve         mode 0755
    model-code/code/...   baked mode: the archive's code/ folder
    model-weights/...     baked mode: the rest of the archive
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sagepack.config import ModelConfig, Variant
from sagepack.errors import ImageError
from sagepack.images.wheelhouse import Wheelhouse
from sagepack.serving import parameters as p

ENV_MARKER = "# sagepack:env"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VENV = PurePosixPath("/opt/venv")
SITE_PACKAGES = VENV / "lib/python3.11/site-packages"
MODEL_DIR = PurePosixPath(p.DEFAULT_MODEL_DIR)
# What of sagepack goes into images: the serving runtime and what it imports.
RUNTIME_FILES = ("__init__.py", "errors.py", "problems.py", "py.typed")
RUNTIME_PACKAGES = ("serving",)
SKIP_NAMES = ("__pycache__",)
SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass
class BuildContext:
    """Entries of the context tar: arcname -> (source path or bytes, mode)."""

    files: dict[str, tuple[Path | bytes, int]] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)

    def add_bytes(self, arcname: str, data: bytes, mode: int = 0o644) -> None:
        self._parents(arcname)
        self.files[arcname] = (data, mode)

    def add_file(self, arcname: str, source: Path, mode: int | None = None) -> None:
        if not source.is_file():
            raise ImageError(f"build context: {source} is missing (wanted as {arcname})")
        if mode is None:
            mode = 0o755 if source.stat().st_mode & 0o111 else 0o644
        self._parents(arcname)
        self.files[arcname] = (source, mode)

    def add_dir(self, arcname: str) -> None:
        self._parents(arcname + "/x")

    def add_tree(self, prefix: str, folder: Path) -> None:
        """Every regular file below ``folder`` (no caches), keeping the run bits."""
        self.add_dir(prefix)
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if any(part in SKIP_NAMES for part in rel.parts) or path.suffix in SKIP_SUFFIXES:
                continue
            if path.is_symlink():
                raise ImageError(f"build context: symbolic link {path} is not allowed")
            if path.is_dir():
                self.add_dir(f"{prefix}/{rel.as_posix()}")
            elif path.is_file():
                self.add_file(f"{prefix}/{rel.as_posix()}", path)

    def _parents(self, arcname: str) -> None:
        parent = posixpath.dirname(arcname)
        while parent:
            self.dirs.add(parent)
            parent = posixpath.dirname(parent)

    def write(self, dest: Path, mtime: int = 0) -> None:
        """Write the context as an uncompressed tar (sorted, uid/gid 0, fixed mtime)."""
        with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(self.dirs | set(self.files)):
                info = tarfile.TarInfo(name)
                info.mtime = mtime
                info.uid = info.gid = 0
                if name in self.files:
                    source, mode = self.files[name]
                    info.mode = mode
                    if isinstance(source, bytes):
                        info.size = len(source)
                        tar.addfile(info, io.BytesIO(source))
                    else:
                        info.size = source.stat().st_size
                        with source.open("rb") as fh:
                            tar.addfile(info, fh)
                else:
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)


# --- pieces ------------------------------------------------------------------------------


def add_serving_runtime(ctx: BuildContext, package_dir: Path, serve: Path) -> None:
    """``sagepack/{__init__,errors}.py``, ``py.typed``, ``serving/`` and ``serve``."""
    for name in RUNTIME_FILES:
        ctx.add_file(f"runtime/sagepack/{name}", package_dir / name, 0o644)
    for name in RUNTIME_PACKAGES:
        folder = package_dir / name
        if not folder.is_dir():
            raise ImageError(f"build context: the serving runtime {folder} is missing")
        ctx.add_tree(f"runtime/sagepack/{name}", folder)
    if not serve.is_file():
        raise ImageError(f"build context: {serve} is missing (the image's `serve`)")
    ctx.add_file("runtime/serve", serve, 0o755)


def add_wheelhouse(ctx: BuildContext, wheelhouse: Wheelhouse, lock: Path) -> None:
    ctx.add_file("requirements.txt", lock, 0o644)
    ctx.add_dir("wheels")
    for wheel in wheelhouse.wheels:
        ctx.add_file(f"wheels/{wheel.filename}", wheelhouse.path / wheel.filename, 0o644)


def add_tools(ctx: BuildContext, uv: Path | None) -> None:
    """``tools/``: uv when the builder stage installs another platform's wheels."""
    ctx.add_dir("tools")
    if uv is not None:
        ctx.add_file("tools/uv", uv, 0o755)


def add_model(ctx: BuildContext, extracted: Path) -> None:
    """Split an extracted model archive: ``code/`` into model-code, the rest into weights."""
    ctx.add_dir("model-code")
    ctx.add_dir("model-weights")
    for entry in sorted(extracted.iterdir()):
        if entry.name == "code" and entry.is_dir():
            ctx.add_tree("model-code/code", entry)
        elif entry.is_dir():
            ctx.add_tree(f"model-weights/{entry.name}", entry)
        elif entry.is_file():
            ctx.add_file(f"model-weights/{entry.name}", entry)


def library_dirs(wheelhouse: Wheelhouse) -> list[str]:
    """The image folders holding NVIDIA's shared libraries (for ``LD_LIBRARY_PATH``)."""
    found: set[str] = set()
    for wheel in wheelhouse.wheels:
        if not wheel.filename.startswith("nvidia"):
            continue
        with zipfile.ZipFile(wheelhouse.path / wheel.filename) as zf:
            for name in zf.namelist():
                base = posixpath.basename(name)
                if ".so" in base and name.startswith("nvidia/"):
                    found.add(str(SITE_PACKAGES / posixpath.dirname(name)))
    return sorted(found)


def image_env(model: ModelConfig, variant: Variant, lib_dirs: Iterable[str] = ()) -> dict[str, str]:
    """The image's environment: sagepack's settings, then ``model.env``, then
    ``variant.env`` (the later wins)."""
    from sagepack.containers.contract import validation_batch_env

    handler = PurePosixPath(model.handler)
    env: dict[str, str] = {
        p.PROGRAM: handler.name,
        p.DEFAULT_ACCEPT: model.response_types[0] if model.response_types else
        "application/json",
        p.DEFAULT_CONTENT_TYPE: model.content_types[0] if model.content_types else
        "application/json",
    }
    if handler.parent != PurePosixPath("code"):
        env[p.HANDLER_DIR] = str(MODEL_DIR / handler.parent)
    if model.validation is not None:
        # The validation job's settings become the image's /execution-parameters defaults.
        batch = validation_batch_env(model)
        env[p.CONFIG_BATCH_STRATEGY] = batch[p.BATCH_STRATEGY]
        env[p.CONFIG_MAX_PAYLOAD_IN_MB] = batch[p.MAX_PAYLOAD_IN_MB]
    if model.max_request_mb is not None:
        env[p.MAX_REQUEST_MB] = str(model.max_request_mb)
    if model.timeout_s is not None:
        env[p.CONFIG_TIMEOUT_S] = str(model.timeout_s)
    # One worker per GPU on GPU variants; never on CPU ones (even with a GPU in the host).
    env[p.GPU] = "true" if variant.gpu else "false"
    if model.multi_model:
        env[p.MULTI_MODEL] = "true"
    if variant.gpu:
        env[p.NVIDIA_VISIBLE_DEVICES] = "all"
        env["NVIDIA_DRIVER_CAPABILITIES"] = "compute,utility"
    dirs = list(lib_dirs)
    if dirs:
        env["LD_LIBRARY_PATH"] = ":".join(dirs)
    env.update(model.env)
    env.update(variant.env)
    return env


def render_dockerfile(template: str, env: Mapping[str, str]) -> str:
    """``template`` with its ``# sagepack:env`` line replaced by ENV instructions."""
    if ENV_MARKER not in template.splitlines():
        raise ImageError(f"the Dockerfile has no '{ENV_MARKER}' line")
    bad = sorted(k for k in env if not _ENV_NAME.match(k))
    if bad:
        raise ImageError(f"invalid environment variable name(s) for the image: {', '.join(bad)}"
                         " (model or variant env in sagepack.toml)")
    if env:
        parts = [f"{key}={_quote(value)}" for key, value in sorted(env.items())]
        block = "ENV " + " \\\n    ".join(parts)
    else:
        block = "# (no model environment)"
    lines = [block if line == ENV_MARKER else line for line in template.splitlines()]
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    if "\n" in value:
        raise ImageError(f"environment values cannot hold newlines: {value!r}")
    return json.dumps(value).replace("$", "\\$")
