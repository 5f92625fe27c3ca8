"""Base images: built locally from Debian's packages, or pulled when a variant names another.

A name under ``sagepack/base`` is built here, one per platform (``...-arm64`` for
linux/arm64): ``debootstrap --variant=minbase`` of a Debian release for the platform's
architecture (another architecture's second stage and apt run under emulation) with
Python 3 and CA certificates, then the release's updates and security suites
applied (:mod:`sagepack.images.debian`), package caches and documentation removed
(:mod:`sagepack.images.rootfs`), packed as a sorted tar with numeric owners and loaded as an
image of its platform (:mod:`sagepack.images.loader`). The exact package set is written inside the base
(``/usr/share/sagepack/base-packages.txt``); its sha256, its size, the suites and how many
packages they upgraded are labels. Every base gets a dated alias
(``sagepack/base:bookworm-python3.11-20261126``). A local base older than
``base_max_age_days`` is reported by :func:`stale_base_warning`; ``invoke base --refresh``
builds it again from the day's packages. Any other name (``python:3.11-slim-bookworm``, an
``nvidia/cuda`` runtime image) is pulled as usual.
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound

from sagepack import emulation
from sagepack import labels as keys
from sagepack.config import Settings
from sagepack.config.project import derive_security_mirror
from sagepack.errors import ImageError
from sagepack.images.debian import (
    PACKAGE_SET_PATH,
    DebPackage,
    Updates,
    apply_updates,
    changes,
    package_set,
    package_set_sha256,
    parse_package_set,
)
from sagepack.images.environment import DEFAULT_MIRROR, DEFAULT_SECURITY_MIRROR
from sagepack.images.loader import load_rootfs
from sagepack.images.rootfs import clean_rootfs, debootstrap, pack_rootfs
from sagepack.platforms import DEFAULT, LOCAL_BASE_REPOSITORY, SUPPORTED, Platform, is_local_base


@dataclass(frozen=True)
class BaseRecipe:
    """How one local base image is made."""

    tag: str
    suite: str
    packages: tuple[str, ...]
    description: str
    platform: Platform = DEFAULT

    @property
    def name(self) -> str:
        return f"{LOCAL_BASE_REPOSITORY}:{self.tag}{self.platform.base_suffix}"

    def of(self, platform: Platform) -> BaseRecipe:
        """The same recipe for ``platform``."""
        return replace(self, platform=platform,
                       description=self.description.replace(
                           self.platform.debian_arch, platform.debian_arch))


_BOOKWORM = BaseRecipe("bookworm-python3.11", "bookworm",
                       ("python3", "python3-venv", "ca-certificates"),
                       "Debian bookworm minbase (amd64) with Python 3.11 and CA certificates")
RECIPES: dict[str, BaseRecipe] = {
    r.name: r for r in (_BOOKWORM.of(p) for p in SUPPORTED.values())
}

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def dated_alias(recipe: BaseRecipe, when: float | None = None) -> str:
    day = time.strftime("%Y%m%d", time.gmtime(time.time() if when is None else when))
    return f"{recipe.name}-{day}"


def _image_id(client: docker.DockerClient, name: str) -> str | None:
    try:
        return str(client.images.get(name).id)
    except ImageNotFound:
        return None


def ensure_base(client: docker.DockerClient, name: str, *, rebuild: bool = False,
                mirror: str = DEFAULT_MIRROR, security_mirror: str | None = None,
                source_date_epoch: int | None = None, log: Log = _quiet,
                platform: Platform = DEFAULT) -> str:
    """Make sure the base image ``name`` is present; return its image id.

    Present images are reused unless ``rebuild``. Names under ``sagepack/base`` are built
    locally from Debian's packages (``mirror``, and ``security_mirror`` for the security
    suite: by default derived from ``mirror``) for the platform their name says; other
    names are pulled for ``platform``.
    """
    present = _image_id(client, name)
    if present is not None and not rebuild:
        return present
    if not is_local_base(name):
        return _pull(client, name, log, platform)
    recipe = RECIPES.get(name)
    if recipe is None:
        known = ", ".join(sorted(RECIPES))
        raise ImageError(f"no recipe for base image {name} (sagepack builds: {known})")
    log(f"building base image {name} from Debian {recipe.suite} packages, with "
        f"{recipe.suite}-updates and {recipe.suite}-security")
    return build_base(client, recipe, mirror=mirror, security_mirror=security_mirror, log=log,
                      source_date_epoch=source_date_epoch)


def _pull(client: docker.DockerClient, name: str, log: Log, platform: Platform) -> str:
    repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "")
    log(f"pulling base image {name} ({platform.docker})")
    try:
        image = client.images.pull(repository, tag=tag or "latest", platform=platform.docker)
    except (APIError, ImageNotFound) as exc:
        raise ImageError(f"cannot pull base image {name}: {exc}. Name a reachable image "
                         f"in base_image, or use a local {LOCAL_BASE_REPOSITORY} base") from exc
    return str(image.id)


# --- building a local base -------------------------------------------------------------


def _names(changed: tuple[Any, ...], limit: int = 8) -> str:
    shown = ", ".join(c.describe() for c in changed[:limit])
    return shown + (f" and {len(changed) - limit} more" if len(changed) > limit else "")


def describe_updates(updates: Updates) -> list[str]:
    """What applying the suites did, as the lines ``invoke base`` prints."""
    applied = " and ".join(updates.suites[1:])
    upgraded = updates.upgraded
    lines = [f"{applied} upgraded {len(upgraded)} packages"
             + (f": {_names(upgraded)}" if upgraded else "")]
    added = tuple(c for c in updates.changes if not c.old)
    if added:
        lines.append(f"newly installed with them: {_names(added)}")
    if updates.kept_back:
        lines.append(f"warning: kept back (not upgraded): {' '.join(updates.kept_back)}")
    return lines


def base_labels(recipe: BaseRecipe, alias: str, updates: Updates, listing: str,
                when: float) -> dict[str, str]:
    """The labels a local base is imported with (keys: :mod:`sagepack.labels`)."""
    return {
        keys.OCI_DESCRIPTION: recipe.description,
        keys.OCI_CREATED: _rfc3339(when),
        keys.BASE_SUITE: recipe.suite,
        keys.BASE_PACKAGES: " ".join(recipe.packages),
        keys.BASE_NAME: alias,
        keys.BASE_SUITES: " ".join(updates.suites),
        keys.BASE_UPDATED: _rfc3339(when),
        keys.BASE_UPGRADED: str(len(updates.upgraded)),
        keys.BASE_PACKAGE_SET_SHA256: package_set_sha256(listing),
        keys.BASE_PACKAGE_COUNT: str(len(updates.packages)),
    }


def build_base(client: docker.DockerClient, recipe: BaseRecipe, *,
               mirror: str = DEFAULT_MIRROR, security_mirror: str | None = None,
               log: Log = _quiet, source_date_epoch: int | None = None) -> str:
    """debootstrap ``recipe``, apply its updates and security suites, record its package
    set, clean, pack and import it; tag it and its dated alias."""
    security = security_mirror or derive_security_mirror(mirror) or DEFAULT_SECURITY_MIRROR
    started = time.monotonic()
    when = time.time()
    platform = recipe.platform
    emulated = emulation.require(platform, f"building the base {recipe.name}")
    with tempfile.TemporaryDirectory(prefix="sagepack-base-", dir="/var/tmp") as work:
        rootfs = Path(work) / "rootfs"
        log(f"debootstrap {recipe.suite} {platform.debian_arch} ({', '.join(recipe.packages)}) "
            f"from {mirror}" + (" (second stage emulated)" if emulated else ""))
        emulated_s = debootstrap(recipe.name, recipe.suite, recipe.packages, rootfs, mirror,
                                 source_date_epoch, platform)
        apt_started = time.monotonic()
        updates = apply_updates(rootfs, recipe.suite, mirror, security,
                                source_date_epoch=source_date_epoch, log=log)
        if emulated:
            emulated_s += time.monotonic() - apt_started
        for line in describe_updates(updates):
            log(line)
        clean_rootfs(rootfs)
        listing = package_set(updates.packages)
        recorded = rootfs / PACKAGE_SET_PATH
        recorded.parent.mkdir(parents=True, exist_ok=True)
        recorded.write_text(listing, encoding="utf-8")
        recorded.chmod(0o644)
        log(f"package set: {len(updates.packages)} packages, sha256 "
            f"{package_set_sha256(listing)[:12]} (/{PACKAGE_SET_PATH})")
        tar_path = Path(work) / "rootfs.tar"
        pack_rootfs(rootfs, tar_path, source_date_epoch)
        shutil.rmtree(rootfs)
        log(f"loading {tar_path.stat().st_size / 1e6:.0f} MB root file system as "
            f"{platform.docker}")
        alias = dated_alias(recipe, when)
        load_rootfs(client, tar_path, recipe.name, platform,
                    env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         "LANG=C.UTF-8"],
                    cmd=["python3"],
                    labels=base_labels(recipe, alias, updates, listing, when),
                    created=_rfc3339(when),
                    comment=f"sagepack base: debootstrap {recipe.suite} "
                            f"{platform.debian_arch}, {' '.join(updates.suites)}")
    image = client.images.get(recipe.name)
    alias_repo, alias_tag = alias.split(":", 1)
    image.tag(alias_repo, alias_tag)
    log(f"base image {recipe.name} ({alias}, {image.attrs.get('Architecture')}) ready in "
        f"{time.monotonic() - started:.0f} s"
        + (f" ({emulated_s:.0f} s of it emulated)" if emulated else "")
        + f", {(image.attrs.get('Size') or 0) / 1e6:.0f} MB")
    return str(image.id)


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# --- a base's age, and refreshing it ------------------------------------------------------


def _parse_time(text: str) -> float | None:
    try:
        stamp = datetime.datetime.fromisoformat(text[:19])
    except ValueError:
        return None
    return stamp.replace(tzinfo=datetime.UTC).timestamp()


def base_updated(attrs: Mapping[str, Any]) -> float | None:
    """When a base's packages were last updated: its ``sagepack.base.updated`` label, else
    the image's creation time (``attrs``: ``inspect_image``)."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    return _parse_time(str(labels.get(keys.BASE_UPDATED) or attrs.get("Created") or ""))


def stale_base_warning(name: str, attrs: Mapping[str, Any], max_age_days: int,
                       now: float | None = None) -> str | None:
    """A warning when the local base ``name`` is older than ``max_age_days`` or was built
    without the updates and security suites; ``None`` otherwise and for pulled bases."""
    if not is_local_base(name):
        return None
    refresh = f"refresh it with: invoke base --refresh --name {name}"
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    if keys.BASE_PACKAGE_SET_SHA256 not in labels:
        return (f"warning: base image {name} was built without Debian's updates and security "
                f"suites (it has no {keys.BASE_PACKAGE_SET_SHA256} label); {refresh}")
    updated = base_updated(attrs)
    if updated is None:
        return None
    days = ((time.time() if now is None else now) - updated) / 86400
    if days <= max_age_days:
        return None
    return (f"warning: base image {name} is {days:.0f} days old (packages updated "
            f"{_rfc3339(updated)[:10]}; base_max_age_days = {max_age_days}); {refresh}")


def check_base_age(client: docker.DockerClient, name: str, max_age_days: int,
                   log: Log) -> str | None:
    """Log (and return) :func:`stale_base_warning` for the present image ``name``."""
    try:
        attrs = client.api.inspect_image(name)
    except (APIError, ImageNotFound):
        return None
    warning = stale_base_warning(name, attrs, max_age_days)
    if warning:
        log(warning)
    return warning


def recorded_package_set(client: docker.DockerClient, image: str) -> list[DebPackage] | None:
    """The package set a local base records inside itself (``None``: it records none)."""
    from sagepack.images.sbom import read_file

    labels = keys.read_labels(client, image)
    if keys.BASE_PACKAGE_SET_SHA256 not in labels:
        return None
    text = read_file(client, image, "/" + PACKAGE_SET_PATH).decode("utf-8")
    if package_set_sha256(text) != labels[keys.BASE_PACKAGE_SET_SHA256]:
        raise ImageError(f"{image}: /{PACKAGE_SET_PATH} does not match its "
                         f"{keys.BASE_PACKAGE_SET_SHA256} label")
    return parse_package_set(text, f"{image}:/{PACKAGE_SET_PATH}")


def _refresh(client: docker.DockerClient, name: str, log: Log, **build: Any) -> str:
    """Build or pull ``name`` again; say what changed and remove the superseded image when
    nothing tags or uses it any more."""
    old = _image_id(client, name)
    before = recorded_package_set(client, old) if old and is_local_base(name) else None
    new = ensure_base(client, name, rebuild=True, log=log, **build)
    if before is not None and old != new:
        after = recorded_package_set(client, new) or []
        changed = changes(before, after)
        log(f"{name}: {len(changed)} packages changed since the previous base"
            + (f": {_names(tuple(changed))}" if changed else ""))
    if old is not None and old != new:
        try:
            if not client.images.get(old).tags:
                client.images.remove(old)
                log(f"removed the superseded base {old[:19]}")
        except ImageNotFound:
            pass
        except APIError as exc:  # images built on it, or a container, still use it
            why = ("images built on it still use it; it goes with them"
                   if exc.status_code == 409 else str(exc.explanation or exc))
            log(f"kept the superseded base {old[:19]} (untagged): {why}")
    return new


def ensure_bases(settings: Settings, *, name: str | None = None, refresh: bool = False,
                 client: docker.DockerClient | None = None,
                 log: Log | None = None) -> dict[str, str]:
    """``invoke base``: every base image a variant names (or just ``name``) -> image id.

    ``refresh``: build (or pull) each again, with the day's updates and security packages.
    """
    from sagepack.images.docker_client import docker_client
    from sagepack.images.environment import BuildEnvironment
    from sagepack.progress import say

    show = log or say
    engine = client or docker_client()
    env = BuildEnvironment.from_project(settings.project)
    build: dict[str, Any] = {"mirror": env.debian_mirror, "security_mirror": env.debian_security_mirror,
                             "source_date_epoch": env.source_date_epoch}
    platforms = {v.base_image: v.platform for m in settings.models.values()
                 for v in m.variants.values()}
    names = [name] if name else sorted(platforms)
    ids: dict[str, str] = {}
    for base in names:
        build["platform"] = platforms.get(base, DEFAULT)
        present = _image_id(engine, base)
        if present is not None and not refresh:
            show(f"{base}: present ({present[:19]})")
            check_base_age(engine, base, env.base_max_age_days, show)
            ids[base] = present
            continue
        ids[base] = _refresh(engine, base, show, **build) if present is not None else \
            ensure_base(engine, base, log=show, **build)
    return ids
