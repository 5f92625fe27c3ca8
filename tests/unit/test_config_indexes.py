"""Package indexes in the configuration: where they come from, their credentials (never in
a file, never shown), and which one a variant resolves against first."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagepack import config
from sagepack.config.indexes import IndexSet, PackageIndex
from sagepack.errors import ConfigError

MODEL = """
name = "m1"
version = "0.1.0"
content_types = ["text/csv"]
response_types = ["text/csv"]
[variants.cpu]
requirements_in = "requirements/cpu.in"
requirements = "requirements/cpu.txt"
"""


def make_project(root: Path, project: str = "", variant: str = "") -> Path:
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.sagepack]\n' + project)
    model = root / "artifacts/m1"
    (model / "code").mkdir(parents=True)
    (model / "code/inference.py").write_text("def model_fn(d):\n    return d\n")
    (model / "requirements").mkdir()
    (model / "requirements/cpu.in").write_text("numpy\n")
    (model / "sagepack.toml").write_text(MODEL + variant)
    return root


COMPANY = ('[[tool.sagepack.index]]\nname = "company"\n'
           'url = "https://pkgs.example.com/simple"\ndefault = true\n')


def test_a_variants_indexes_come_first_and_its_default_replaces_the_projects(
        tmp_path: Path) -> None:
    root = make_project(tmp_path, COMPANY + '[[tool.sagepack.index]]\nname = "torch-cpu"\n'
                        'url = "https://download.pytorch.org/whl/cpu"\n',
                        '[[variants.cpu.index]]\nname = "mirror"\n'
                        'url = "https://mirror.example.com/simple/"\ndefault = true\n')
    indexes = config.load(root, env={}).models["m1"].variant("cpu").indexes
    assert [(i.name, i.url, i.default) for i in indexes.indexes] == [
        ("mirror", "https://mirror.example.com/simple/", True),
        ("torch-cpu", "https://download.pytorch.org/whl/cpu/", False)]
    assert indexes.default is not None and indexes.default.name == "mirror"


def test_credentials_come_from_the_environment_before_a_netrc(tmp_path: Path) -> None:
    root = make_project(tmp_path, COMPANY)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine pkgs.example.com login from-netrc password netrc-secret\n")
    env = {"NETRC": str(netrc)}
    [index] = config.load(root, env=env).project.indexes
    assert (index.username, index.password) == ("from-netrc", "netrc-secret")
    assert index.credentials_from == f"{netrc} (machine pkgs.example.com)"
    env |= {"SAGEPACK_INDEX_COMPANY_USERNAME": "ci", "SAGEPACK_INDEX_COMPANY_PASSWORD": "a b/c@d"}
    [index] = config.load(root, env=env).project.indexes
    assert (index.username, index.password) == ("ci", "a b/c@d")
    assert index.authenticated_url() == "https://ci:a%20b%2Fc%40d@pkgs.example.com/simple/"
    assert "a b/c@d" not in repr(index) and "a%20b" not in repr(index)
    # The variant's copy of the project's index carries them too.
    variant = config.load(root, env=env).models["m1"].variant("cpu")
    assert variant.indexes.indexes[0].password == "a b/c@d"


def test_credentials_in_a_url_are_refused_without_being_shown(tmp_path: Path) -> None:
    root = make_project(tmp_path, '[[tool.sagepack.index]]\nname = "company"\n'
                                  'url = "https://bob:hunter2@pkgs.example.com/simple"\n')
    with pytest.raises(ConfigError) as caught:
        config.load(root, env={})
    [problem] = caught.value.problems
    assert problem.key == "tool.sagepack.index[0].url"
    assert "$SAGEPACK_INDEX_COMPANY_PASSWORD" in problem.message
    assert "hunter2" not in str(caught.value) and "bob" not in str(caught.value)


def test_bad_entries_are_all_reported_with_their_keys(tmp_path: Path) -> None:
    root = make_project(tmp_path, COMPANY.replace("company", "second") + COMPANY
                        + '[[tool.sagepack.index]]\nname = "company"\nurl = "https://x/s"\n',
                        '[[variants.cpu.index]]\nname = "bad name"\nurl = "ftp://x"\n'
                        '[[variants.cpu.index]]\nname = "ok"\nurl = "ftp://x/simple"\n'
                        'colour = "red"\n')
    netrc = tmp_path / "netrc"
    netrc.write_text("machine\n")  # not parseable
    with pytest.raises(ConfigError) as caught:
        config.load(root, env={"NETRC": str(netrc)})
    found = {(p.file.name, p.key): p.message for p in caught.value.problems}
    assert "'company' names two indexes" in found[("pyproject.toml", "tool.sagepack.index[2].name")]
    assert "second, company" in found[("pyproject.toml", "tool.sagepack.index")]
    assert "cannot read the credentials in" in found[("pyproject.toml",
                                                      "tool.sagepack.index[0].url")]
    assert "expected letters" in found[("sagepack.toml", "variants.cpu.index[0].name")]
    assert "http(s) or file URL" in found[("sagepack.toml", "variants.cpu.index[1].url")]
    assert found[("sagepack.toml", "variants.cpu.index[1].colour")] == "unknown key"


def test_redact_takes_every_credential_out_of_a_message() -> None:
    index = PackageIndex("company", "https://pkgs.example.com/simple/", True, "ci", "p@ss/w")
    text = ("GET https://ci:p%40ss%2Fw@pkgs.example.com/simple/x/ failed; password p@ss/w; "
            "and https://other:secret@elsewhere.example/simple")
    redacted = IndexSet((index,)).redact(text)
    for secret in ("p@ss/w", "p%40ss%2Fw", "other:secret", "secret"):
        assert secret not in redacted
    assert "https://****@pkgs.example.com/simple/x/" in redacted
    assert "https://****@elsewhere.example/simple" in redacted


def test_no_index_leaves_the_tools_environment_alone(tmp_path: Path) -> None:
    variant = config.load(make_project(tmp_path), env={}).models["m1"].variant("cpu")
    assert variant.indexes == IndexSet()
    assert variant.indexes.uv_env() is None and variant.indexes.pip_env() is None
    with_index = IndexSet((PackageIndex("company", "http://pkgs.example.com/simple/", True,
                                        "ci", "pw"),))
    env = with_index.pip_env()
    assert env is not None and env["PIP_INDEX_URL"] == "http://ci:pw@pkgs.example.com/simple/"
    assert env["PIP_TRUSTED_HOST"] == "pkgs.example.com"  # plain http, named by the user
    uv = with_index.uv_env()
    assert uv is not None and uv["UV_DEFAULT_INDEX"] == "http://ci:pw@pkgs.example.com/simple/"
