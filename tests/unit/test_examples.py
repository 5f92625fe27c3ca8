"""``invoke example``: each bundled example regenerates the bytes committed under
``artifacts/`` (same versions, fixed seeds, one thread), and says what it needs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from sagepack import examples
from sagepack.errors import SagepackError
from sagepack.examples import sklearn_wine

ROOT = Path(__file__).resolve().parents[2]


def _copy(tmp_path: Path, name: str) -> Path:
    shutil.copytree(ROOT / "artifacts" / name, tmp_path / "artifacts" / name)
    return tmp_path / "artifacts"


# torch is no extra of sagepack's (PyPI's Linux wheels bring gigabytes of CUDA): torch-mlp
# is checked by building and testing its image (tests/containers/test_smoke_examples.py).
@pytest.mark.parametrize("name", ["iris", "xgboost-cancer", "sklearn-wine"])
def test_an_example_regenerates_the_committed_bytes(tmp_path: Path, name: str) -> None:
    artifacts = _copy(tmp_path, name)
    for path in (artifacts / name).rglob("*"):  # nothing left to compare by accident
        if path.is_file() and path.parent.name != "code" and path.name != "sagepack.toml" \
                and "requirements" not in path.parts:
            path.unlink()
    written = examples.generate(artifacts, name)
    assert written, "nothing was written"
    committed = {p.relative_to(ROOT / "artifacts"): p
                 for p in (ROOT / "artifacts" / name).rglob("*")
                 if p.is_file()}
    for path in written:
        rel = path.relative_to(artifacts)
        assert rel in committed, f"{rel} is written but not committed"
        assert path.read_bytes() == committed[rel].read_bytes(), f"{rel} differs"


def test_an_unknown_example_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(SagepackError, match="iris, xgboost-cancer, sklearn-wine, torch-mlp"):
        examples.generate(tmp_path, "nope")


def test_a_missing_framework_names_the_install_before_writing_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("iris", "xgboost-cancer", "sklearn-wine"):  # their frameworks imported
        examples.EXAMPLES[name].check_tools()
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    artifacts = _copy(tmp_path, "iris")
    before = {p: p.read_bytes() for p in artifacts.rglob("*") if p.is_file()}
    with pytest.raises(SagepackError, match=r"needs torch .*pip install torch.*; or "
                                            r"regenerate one of the others with --model"):
        examples.generate(artifacts, "all")
    assert {p: p.read_bytes() for p in artifacts.rglob("*") if p.is_file()} == before


def test_a_host_scikit_learn_other_than_the_pin_is_refused_naming_both(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sklearn

    artifacts = _copy(tmp_path, "sklearn-wine")
    pinned = sklearn_wine.pinned_version(artifacts / "sklearn-wine")
    assert pinned == sklearn.__version__  # the dev extra installs the pinned version
    monkeypatch.setattr(sklearn, "__version__", "1.99.0")
    with pytest.raises(SagepackError, match=f"this machine has scikit-learn 1.99.0, but "
                                            f"sklearn-wine's image pins {pinned}"):
        examples.generate(artifacts, "sklearn-wine")
