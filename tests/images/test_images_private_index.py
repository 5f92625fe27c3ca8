"""Locks and wheelhouses from private package indexes: a real PEP 503 index served on the
loopback (a public mirror replacing PyPI, and a private index behind basic auth), with the
credentials from the environment or a netrc and in no lock, file or message."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from private_index import Served, build_wheel, serve, write_simple_tree

from sagepack import config
from sagepack.errors import LockError
from sagepack.images.lock import lock, read_lock
from sagepack.images.wheelhouse import ensure_wheelhouse

USER, PASSWORD = "ci-reader", "s3cr3t/p@ss"  # characters a URL must quote


@dataclass(frozen=True)
class Index:
    served: Served
    wheels: dict[str, Path]

    def url(self, which: str) -> str:
        return f"{self.served.url}/{which}/simple"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    root = tmp_path_factory.mktemp("index")
    built = tmp_path_factory.mktemp("wheels")
    tinydep = build_wheel(built, "tinydep", "1.2.0")
    private = build_wheel(built, "demo-private", "0.3.0", requires=["tinydep>=1"])
    write_simple_tree(root / "public", [tinydep])
    write_simple_tree(root / "private", [private])
    with serve(root, protected={"/private/": (USER, PASSWORD)}) as served:
        yield Index(served, {"tinydep": tinydep, "demo-private": private})


def _project(root: Path, index: Index) -> Path:
    """A project whose default index is the public mirror and whose model's CPU variant
    adds the private one; the serving runtime needs tinydep, the model demo-private."""
    (root / "containers/requirements").mkdir(parents=True)
    (root / "containers/requirements/serving.in").write_text("tinydep\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "p"\n\n[tool.sagepack]\n\n[[tool.sagepack.index]]\n'
        f'name = "mirror"\nurl = "{index.url("public")}"\ndefault = true\n')
    model = root / "artifacts/private-model"
    (model / "code").mkdir(parents=True)
    (model / "code/inference.py").write_text("def model_fn(d):\n    return d\n")
    (model / "requirements").mkdir()
    (model / "requirements/cpu.in").write_text("demo-private\n")
    (model / "sagepack.toml").write_text(
        'name = "private-model"\nversion = "1.0.0"\ncontent_types = ["text/csv"]\n'
        'response_types = ["text/csv"]\n\n[variants.cpu]\n'
        'requirements_in = "requirements/cpu.in"\nrequirements = "requirements/cpu.txt"\n\n'
        f'[[variants.cpu.index]]\nname = "private"\nurl = "{index.url("private")}"\n')
    return root


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_lock_and_wheelhouse_come_from_the_indexes_and_never_hold_the_credentials(
        index: Index, tmp_path: Path) -> None:
    root = _project(tmp_path / "project", index)
    env = {"SAGEPACK_INDEX_PRIVATE_USERNAME": USER, "SAGEPACK_INDEX_PRIVATE_PASSWORD": PASSWORD}
    settings = config.load(root, env=env)
    variant = settings.models["private-model"].variant("cpu")
    assert [(i.name, i.default) for i in variant.indexes.indexes] == [
        ("private", False), ("mirror", True)]
    assert PASSWORD not in repr(variant)
    before = len(index.served.requests)

    path = lock(settings.models["private-model"], "cpu", project_root=root)
    locked = {r.name: r for r in read_lock(path)}
    assert locked["demo-private"].version == "0.3.0"
    assert locked["demo-private"].hashes == {_sha256(index.wheels["demo-private"])}
    assert locked["tinydep"].hashes == {_sha256(index.wheels["tinydep"])}
    text = path.read_text()
    for secret in (PASSWORD, USER, "s3cr3t", "127.0.0.1"):
        assert secret not in text
    asked = index.served.requests[before:]
    assert ("/private/simple/demo-private/", 200) in asked  # with the credentials
    assert any(p.startswith("/public/") and code == 200 for p, code in asked)

    # The wheelhouse: the same credentials, this time from a netrc entry of the host.
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    from_netrc = config.load(root, env={"NETRC": str(netrc)})
    variant = from_netrc.models["private-model"].variant("cpu")
    assert str(netrc) in variant.indexes.indexes[0].credentials_from
    house = ensure_wheelhouse(path, tmp_path / "cache", indexes=variant.indexes)
    assert house.downloaded
    assert sorted(w.filename for w in house.wheels) == sorted(
        w.name for w in index.wheels.values())
    assert not any(PASSWORD in p.read_text(errors="replace") for p in house.path.iterdir()
                   if p.suffix == ".json")


def test_wrong_credentials_fail_naming_the_index_without_showing_them(
        index: Index, tmp_path: Path) -> None:
    root = _project(tmp_path / "project", index)
    wrong = "wr0ng-pa55word"
    settings = config.load(root, env={"SAGEPACK_INDEX_PRIVATE_USERNAME": USER,
                                      "SAGEPACK_INDEX_PRIVATE_PASSWORD": wrong})
    model = settings.models["private-model"]
    with pytest.raises(LockError) as caught:
        lock(model, "cpu", project_root=root)
    message = str(caught.value)
    assert wrong not in message and "wr0ng" not in message
    assert f"private {index.url('private')}/ (extra index, credentials from " \
        "$SAGEPACK_INDEX_PRIVATE_USERNAME" in message  # which index, without credentials
    assert not model.variant("cpu").requirements.exists()

    # A lock made with the right ones, downloaded with the wrong ones: pip's error, redacted.
    good = config.load(root, env={"SAGEPACK_INDEX_PRIVATE_USERNAME": USER,
                                  "SAGEPACK_INDEX_PRIVATE_PASSWORD": PASSWORD})
    path = lock(good.models["private-model"], "cpu", project_root=root)
    with pytest.raises(LockError) as download:
        ensure_wheelhouse(path, tmp_path / "cache", indexes=model.variant("cpu").indexes)
    text = str(download.value)
    assert wrong not in text and "demo-private" in text
    assert not (tmp_path / "cache").exists() or not any(
        p.name.startswith(".") for p in (tmp_path / "cache").iterdir())  # no staging left
