"""Images made without a build: layers with an image config written here, through
``docker load``.

The engine's import (``POST /images/create?fromSrc=-``) takes a root file system but
always records the engine's own architecture (Docker 20.10 reads only the OS of its
``platform``), so a local arm64 base imported on x86_64 would claim to be amd64, and the
classic builder, which wants every image of a build to be of the build's platform, would
refuse it. ``docker load`` takes the config as written: :func:`load_rootfs` loads a root
file system tar as a one-layer image of a given platform, with its environment, command
and labels; :func:`retarget` loads an existing image's layers under a config naming
another platform (see :mod:`sagepack.images.cross`). The image id is the sha256 of the
config, so the same layer and settings give the same id.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError

from sagepack.errors import ImageError
from sagepack.files import file_sha256
from sagepack.platforms import Platform


def image_config(platform: Platform, *, diff_ids: Sequence[str], env: Sequence[str],
                 cmd: Sequence[str], labels: Mapping[str, str], created: str,
                 comment: str) -> dict[str, Any]:
    """An OCI/Docker image config for ``platform`` over the layers ``diff_ids``."""
    return {
        "architecture": platform.debian_arch,
        "os": "linux",
        "created": created,
        "config": {"Env": list(env), "Cmd": list(cmd), "Labels": dict(labels)},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": created, "comment": comment} for _ in diff_ids],
    }


def _config_bytes(config: Mapping[str, Any]) -> tuple[bytes, str]:
    data = json.dumps(config, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return data, hashlib.sha256(data).hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _load(client: docker.DockerClient, bundle: Path, tag: str) -> None:
    try:
        with bundle.open("rb") as fh:
            for chunk in client.api.load_image(fh):
                if isinstance(chunk, dict) and (chunk.get("error") or chunk.get("errorDetail")):
                    raise ImageError(f"loading {tag} failed: "
                                     f"{chunk.get('error') or chunk.get('errorDetail')}")
    except APIError as exc:
        raise ImageError(f"loading {tag} failed: {exc.explanation or exc}") from exc


def load_rootfs(client: docker.DockerClient, layer: Path, tag: str, platform: Platform, *,
                env: Sequence[str], cmd: Sequence[str], labels: Mapping[str, str],
                created: str, comment: str) -> str:
    """Load the root file system tar ``layer`` as a one-layer image of ``platform`` tagged
    ``tag``; return its id."""
    config = image_config(platform, diff_ids=[f"sha256:{file_sha256(layer)}"], env=env,
                          cmd=cmd, labels=labels, created=created, comment=comment)
    data, digest = _config_bytes(config)
    manifest = [{"Config": f"{digest}.json", "RepoTags": [tag], "Layers": ["rootfs/layer.tar"]}]
    with tempfile.TemporaryDirectory(prefix="sagepack-load-", dir=layer.parent) as work:
        bundle = Path(work) / "image.tar"
        with tarfile.open(bundle, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, f"{digest}.json", data)
            tar.add(layer, arcname="rootfs/layer.tar", recursive=False)
            _add_bytes(tar, "manifest.json", json.dumps(manifest).encode("utf-8"))
        _load(client, bundle, tag)
    return f"sha256:{digest}"


def retarget(client: docker.DockerClient, image: str, tag: str, platform: Platform,
             labels: Mapping[str, str]) -> str:
    """Load ``image``'s layers, unchanged, under a config that names ``platform`` (and has
    ``labels`` added), tagged ``tag``; return its id."""
    with tempfile.TemporaryDirectory(prefix="sagepack-retarget-", dir="/var/tmp") as work:
        saved, bundle = Path(work) / "saved.tar", Path(work) / "image.tar"
        try:
            with saved.open("wb") as fh:
                for chunk in client.images.get(image).save(named=False):
                    fh.write(chunk)
        except APIError as exc:
            raise ImageError(f"saving {image} failed: {exc.explanation or exc}") from exc
        with tarfile.open(saved) as src, tarfile.open(bundle, "w",
                                                      format=tarfile.PAX_FORMAT) as out:
            [entry] = json.load(_member(src, "manifest.json"))
            config = json.load(_member(src, entry["Config"]))
            config["architecture"] = platform.debian_arch
            config.pop("variant", None)
            inner = config.setdefault("config", {})
            inner["Labels"] = {**(inner.get("Labels") or {}), **labels}
            data, digest = _config_bytes(config)
            for member in src:
                if member.name in ("manifest.json", "repositories", entry["Config"]):
                    continue
                out.addfile(member, src.extractfile(member) if member.isfile() else None)
            _add_bytes(out, f"{digest}.json", data)
            _add_bytes(out, "manifest.json", json.dumps([{
                "Config": f"{digest}.json", "RepoTags": [tag],
                "Layers": entry["Layers"]}]).encode("utf-8"))
        _load(client, bundle, tag)
    return f"sha256:{digest}"


def _member(tar: tarfile.TarFile, name: str) -> io.BufferedReader:
    handle = tar.extractfile(name)
    if handle is None:
        raise ImageError(f"a saved image has no {name}")
    return handle  # type: ignore[return-value]
