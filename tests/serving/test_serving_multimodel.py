"""One worker's models, in process: isolated handlers, nothing left after an unload or a
failed load, paging; and the memory figures the budget is decided on."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from serving_helpers import request, write_model

from sagepack.errors import ConfigError, HandlerError
from sagepack.serving import cli, memory, multimodel
from sagepack.serving import parameters as p
from sagepack.serving.app import ServingApp
from sagepack.serving.coordinator import Budget
from sagepack.serving.settings import Settings

# Two archives, each with code/inference.py and a helper module of its own name.
ADDER = """
import numpy as np
import helper_{tag}

def model_fn(model_dir):
    return lambda data: np.asarray(data) + helper_{tag}.OFFSET
"""


def archive(root: Path, tag: str, offset: int) -> str:
    folder = write_model(root / tag / "model", ADDER.format(tag=tag))
    (folder / "code" / f"helper_{tag}.py").write_text(f"OFFSET = {offset}\n")
    return str(folder)


def test_two_models_with_the_same_handler_file_name_stay_apart(tmp_path: Path) -> None:
    registry = multimodel.Registry("inference.py")
    one, two = archive(tmp_path, "one", 1), archive(tmp_path, "two", 1000)
    first, second = registry.load("one", one), registry.load("two", two)
    assert first.module_name != second.module_name
    assert first.module_name in sys.modules and second.module_name in sys.modules
    assert "inference" not in sys.modules or sys.modules["inference"].__file__ not in {
        str(first.handler.path), str(second.handler.path)}
    assert list(first.model([1, 2])) == [2, 3]
    assert list(second.model([1, 2])) == [1001, 1002]
    for name in ("one", "two"):
        assert registry.publish(name, "t", 0)
    assert registry.names() == ["one", "two"]
    code_dirs = {first.code_dir, second.code_dir}
    del first, second
    assert registry.discard("one") and registry.discard("two")
    left = [key for key, module in sys.modules.items()
            if str(getattr(module, "__file__", "")).startswith(str(tmp_path))]
    assert left == [], f"modules of unloaded models still imported: {left}"
    assert not code_dirs & set(sys.path), "an unloaded model's code/ stayed on sys.path"
    assert registry.get("one") is None and not registry.discard("one")


def test_a_model_s_folder_is_made_once_not_per_invocation(tmp_path: Path) -> None:
    registry = multimodel.Registry("inference.py")
    url = archive(tmp_path, "one", 1)
    registry.load("one", url)
    registry.publish("one", "t", 0)
    entry = registry.get("one")
    try:
        assert entry is not None and entry.model_dir == Path(url)
        assert entry.model_dir is entry.model_dir  # what every invocation's context gets
    finally:
        del entry
        registry.discard("one")


def test_a_failing_model_fn_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "bad" / "model", """
        import helper_bad
        def model_fn(model_dir):
            raise RuntimeError("weights are corrupt (marker 33aa)")
    """)
    (folder / "code" / "helper_bad.py").write_text("X = 1\n")
    registry = multimodel.Registry("inference.py")
    with pytest.raises(HandlerError, match="marker 33aa"):
        registry.load("bad", str(folder))
    assert not [k for k in sys.modules if k.startswith("sagepack_model_") or k == "helper_bad"]
    assert str(folder / "code") not in sys.path
    assert registry.hide("bad") is None and registry.names() == []


def test_staged_models_are_invisible_until_published(tmp_path: Path) -> None:
    registry = multimodel.Registry("inference.py")
    registry.load("one", archive(tmp_path, "one", 1))
    assert registry.get("one") is None and registry.names() == []
    assert registry.publish("one", "2026-01-01T00:00:00", 42)
    entry = registry.get("one")
    assert entry is not None
    assert entry.describe()["loadedAt"] == "2026-01-01T00:00:00"
    assert entry.describe()["memoryBytes"] == 42
    assert not registry.publish("two", "", 0)
    registry.discard("one")


def test_pages_follow_the_names_and_end_with_no_token(tmp_path: Path) -> None:
    registry = multimodel.Registry("inference.py")
    url = archive(tmp_path, "shared", 0)
    names = ["m3", "m1", "m5", "m2", "m4"]
    for name in names:
        registry.load(name, url)
        registry.publish(name, "", 0)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        models, token = registry.page(token, 2)
        pages += 1
        seen += [m.name for m in models]
        if token is None:
            break
    assert seen == sorted(names) and pages == 3
    with pytest.raises(ValueError, match="next_page_token"):
        registry.page("%%%", 2)
    for name in names:
        registry.discard(name)
    assert str(Path(url) / "code") not in sys.path


@pytest.mark.parametrize(("name", "problem"), [
    ("", "non-empty"), (7, "non-empty"), ("a/b", "'/'"), ("a\nb", "control"), ("x" * 300, "256"),
])
def test_bad_model_names_are_refused(name: object, problem: str) -> None:
    reason = multimodel.name_problem(name)
    assert reason is not None and problem in reason
    assert multimodel.name_problem("ab12-cd_34.v2") is None


def limits(tmp_path: Path, v2: str | None = None, v1: str | None = None,
           total_kb: int = 8 * 1024 * 1024) -> tuple[int, str]:
    tmp_path.mkdir()
    (tmp_path / "meminfo").write_text(f"MemTotal:       {total_kb} kB\nMemFree: 1 kB\n")
    if v2 is not None:
        (tmp_path / "memory.max").write_text(v2 + "\n")
    if v1 is not None:
        (tmp_path / "memory").mkdir()
        (tmp_path / "memory" / "memory.limit_in_bytes").write_text(v1 + "\n")
    return memory.container_limit(tmp_path, tmp_path / "meminfo")


def test_the_container_limit_comes_from_cgroups_else_the_host(tmp_path: Path) -> None:
    host = 8 * 1024 * 1024 * 1024
    assert limits(tmp_path / "v2", v2=str(2 << 30)) == (2 << 30, str(tmp_path / "v2" / "memory.max"))
    assert limits(tmp_path / "v1", v1=str(3 << 30))[0] == 3 << 30
    assert limits(tmp_path / "max", v2="max")[0] == host
    assert limits(tmp_path / "huge", v1="9223372036854771712")[0] == host
    none, where = limits(tmp_path / "none")
    assert none == host and "MemTotal" in where


def test_the_budget_is_a_fraction_of_the_limit_or_the_variable() -> None:
    settings = Settings.from_environ({p.MEMORY_FRACTION: "0.5"})
    limit, _ = memory.container_limit()
    assert Budget.of(settings).bytes == pytest.approx(limit * 0.5, abs=1)
    fixed = Settings.from_environ({p.MEMORY_BUDGET_MB: "300", p.MEMORY_FRACTION: "0.5"})
    assert Budget.of(fixed) == Budget(300 << 20, p.MEMORY_BUDGET_MB)


@pytest.mark.parametrize(("env", "problem"), [
    ({p.MEMORY_FRACTION: "1.5"}, "at most 1"), ({p.MEMORY_FRACTION: "lots"}, "a fraction"),
    ({p.MEMORY_BUDGET_MB: "0"}, "between"), ({p.MULTI_MODEL: "maybe"}, "true or false"),
])
def test_bad_multi_model_settings_are_named(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        Settings.from_environ(env)
    assert next(iter(env)) in str(caught.value)


def test_serve_check_of_a_multi_model_image_loads_nothing_and_succeeds(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(p.MULTI_MODEL, "true")
        patch.setenv(p.MODEL_DIR, "/nonexistent/model")
        assert cli.main(["--check"]) == 0
    out = capsys.readouterr().out
    assert "multi-model endpoint" in out and cli.check_result(out)["loaded"] is True


def test_multi_model_settings_are_read_once() -> None:
    settings = Settings.from_environ({p.MULTI_MODEL: "true", p.MODELS_DIR: ""})
    assert settings.multi_model and settings.models_dir is None
    assert Settings.from_environ({}).models_dir == Path("/opt/ml/models")
    assert not Settings.from_environ({}).multi_model


def test_memory_used_grows_with_what_the_process_touches() -> None:
    before = memory.used([os.getpid()])
    ballast = np.ones(64 << 20, dtype=np.uint8)  # 64 MiB, every page written
    grown = memory.used([os.getpid()]) - before
    del ballast
    assert grown > 60 << 20, f"a 64 MiB array grew the measure by {memory.mib(grown)}"
    assert memory.used([os.getpid()]) - before < 16 << 20
    assert memory.used([2 ** 22 + 7]) == 0  # no such process
    assert memory.trim()


def test_size_on_disk_counts_files_not_links(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 24)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert memory.size_on_disk(tmp_path) == 1024


def test_without_a_supervisor_loads_are_503_and_lists_empty(
        make_app: Callable[..., ServingApp], tmp_path: Path) -> None:
    app = make_app(multi_model=True, models_dir=tmp_path)
    url = archive(tmp_path, "one", 1)
    answer = request(app, "POST", "/models", f'{{"model_name": "one", "url": "{url}"}}')
    assert answer.status_code == 503 and "serve" in answer.json()["message"]
    assert request(app, "GET", "/models").json() == {"models": [], "nextPageToken": None}
    assert request(app, "GET", "/ping").status_code == 200
