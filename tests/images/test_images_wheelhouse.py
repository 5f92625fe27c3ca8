"""The wheelhouse: exactly the lock's wheels, for the image's platform, or an error naming
the package."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sagepack.errors import LockError
from sagepack.images.lock import read_lock
from sagepack.images.wheelhouse import verify, wheel_fits_image

NUMPY = "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
CLICK = "click-8.5.1-py3-none-any.whl"


def _wheel(folder: Path, name: str, content: bytes) -> str:
    (folder / name).write_bytes(content)
    return hashlib.sha256(content).hexdigest()


def _lock(path: Path, entries: dict[str, str]) -> Path:
    path.write_text("".join(f"{req} \\\n    --hash=sha256:{digest}\n"
                            for req, digest in entries.items()))
    return path


@pytest.fixture
def house(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "wheels"
    folder.mkdir()
    digests = {"numpy==2.4.6": _wheel(folder, NUMPY, b"numpy"),
               "click==8.5.1": _wheel(folder, CLICK, b"click")}
    return folder, digests


def test_matching_wheelhouse_verifies(tmp_path: Path, house: tuple[Path, dict[str, str]]) -> None:
    folder, digests = house
    lock = _lock(tmp_path / "lock.txt", digests)
    wheels = verify(folder, read_lock(lock), lock)
    assert sorted(w.filename for w in wheels) == sorted([NUMPY, CLICK])


def test_hash_mismatch_names_the_package(tmp_path: Path,
                                         house: tuple[Path, dict[str, str]]) -> None:
    folder, digests = house
    digests["numpy==2.4.6"] = "0" * 64
    lock = _lock(tmp_path / "lock.txt", digests)
    with pytest.raises(LockError, match=r"numpy==2\.4\.6: wheel numpy-.*does not list"):
        verify(folder, read_lock(lock), lock)


def test_missing_wheel_names_the_package(tmp_path: Path,
                                         house: tuple[Path, dict[str, str]]) -> None:
    folder, digests = house
    digests["uvloop==0.23.0"] = "1" * 64
    lock = _lock(tmp_path / "lock.txt", digests)
    with pytest.raises(LockError, match=r"uvloop==0\.23\.0: no wheel"):
        verify(folder, read_lock(lock), lock)


def test_wheel_not_in_the_lock_is_a_mismatch(tmp_path: Path,
                                             house: tuple[Path, dict[str, str]]) -> None:
    folder, digests = house
    _wheel(folder, "h11-0.16.0-py3-none-any.whl", b"h11")
    lock = _lock(tmp_path / "lock.txt", digests)
    with pytest.raises(LockError, match="h11 are not in the lock"):
        verify(folder, read_lock(lock), lock)


def test_wheel_for_another_platform_names_the_package(tmp_path: Path) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    name = "numpy-2.4.6-cp311-cp311-win_amd64.whl"
    lock = _lock(tmp_path / "lock.txt", {"numpy==2.4.6": _wheel(folder, name, b"x")})
    with pytest.raises(LockError, match=r"numpy==2\.4\.6: wheel .*win_amd64.* does not fit"):
        verify(folder, read_lock(lock), lock)


@pytest.mark.parametrize(("name", "fits"), [
    (NUMPY, True),
    (CLICK, True),
    ("protobuf-7.36.2-cp310-abi3-manylinux2014_x86_64.whl", True),
    ("numpy-2.4.6-cp312-cp312-manylinux_2_28_x86_64.whl", False),
    ("numpy-2.4.6-cp311-cp311-manylinux_2_28_aarch64.whl", False),
    ("numpy-2.4.6-cp311-cp311-macosx_14_0_arm64.whl", False),
    ("numpy-2.4.6-cp311-cp311-manylinux_2_34_x86_64.whl", False),
    ("six-1.17.0-py2.py3-none-any.whl", True),
    ("cffi-2.0.0-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", False),
    ("tiny-1.0-cp311-none-manylinux_2_28_x86_64.whl", True),
    ("tiny-1.0-py2-none-any.whl", False),
])
def test_wheel_fits_image(name: str, fits: bool) -> None:
    assert wheel_fits_image(name) is fits


@pytest.mark.slow
def test_download_with_a_wrong_hash_names_the_package(tmp_path: Path) -> None:
    from sagepack.images.wheelhouse import ensure_wheelhouse

    lock = _lock(tmp_path / "lock.txt", {"click==8.1.7": "0" * 64})
    with pytest.raises(LockError, match=r"hash mismatch: click==8\.1\.7"):
        ensure_wheelhouse(lock, tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())  # nothing half-made is kept


@pytest.mark.slow
def test_download_of_a_package_without_a_wheel_for_the_image_names_it(tmp_path: Path) -> None:
    from sagepack.images.wheelhouse import ensure_wheelhouse

    # PyYAML 5.3.1 predates CPython 3.11: no wheel fits the image.
    lock = _lock(tmp_path / "lock.txt", {"pyyaml==5.3.1": "1" * 64})
    with pytest.raises(LockError, match=r"pyyaml==5\.3\.1"):
        ensure_wheelhouse(lock, tmp_path / "cache")


@pytest.mark.slow
def test_wheelhouse_is_keyed_by_architecture_and_lock_and_reused(tmp_path: Path) -> None:
    from sagepack.images.wheelhouse import ensure_wheelhouse

    repo = Path(__file__).resolve().parents[2]
    lock = repo / "tests/images/fixtures/tiny/requirements/cpu.txt"
    first = ensure_wheelhouse(lock, tmp_path / "cache")
    again = ensure_wheelhouse(lock, tmp_path / "cache")
    assert first.downloaded and not again.downloaded
    assert first.path == again.path == tmp_path / "cache" / "x86_64" / first.lock_sha256
    assert {w.name for w in first.wheels} >= {"numpy", "uvicorn", "uvloop", "httptools"}


def test_a_file_that_is_not_a_wheel_name_is_named(tmp_path: Path) -> None:
    with pytest.raises(LockError, match=r"not a wheel file name: numpy-2\.4\.6\.whl"):
        wheel_fits_image("numpy-2.4.6.whl")


def test_wheel_version_matches_the_lock_after_normalisation(tmp_path: Path) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    name = "Foo_Bar-1.0-py3-none-any.whl"
    lock = _lock(tmp_path / "lock.txt", {"foo.bar==1.0.0": _wheel(folder, name, b"f")})
    assert [w.filename for w in verify(folder, read_lock(lock), lock)] == [name]
