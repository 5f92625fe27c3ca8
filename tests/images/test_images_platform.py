"""Per-variant platforms: the setting, its configuration errors, locks and wheelhouses for
aarch64 (a real uv resolver against a real index), and the emulation a foreign image needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from private_index import Served, build_wheel, serve, write_simple_tree

from sagepack import config, emulation
from sagepack.errors import ConfigError, EmulationUnavailable, LockError
from sagepack.images.build_stream import EngineResult, Step
from sagepack.images.cross import Builder, check_platform, emulated_step_seconds
from sagepack.images.lock import lock, no_wheel_for, read_lock
from sagepack.images.wheelhouse import ensure_wheelhouse, verify, wheel_fits_image
from sagepack.platforms import AMD64, ARM64, by_arch, by_name

REPO = Path(__file__).resolve().parents[2]
X86_ONLY = "cp311-cp311-manylinux_2_17_x86_64"
ARM_ONLY = "cp311-cp311-manylinux_2_17_aarch64"


# --- the platform setting -----------------------------------------------------------------


def test_platforms_are_looked_up_by_the_name_a_variant_gives() -> None:
    assert by_name("linux/arm64") is ARM64 and by_name("linux/amd64") is AMD64
    with pytest.raises(KeyError, match=r"unknown platform 'linux/s390x' \(supported: "
                                       r"linux/amd64, linux/arm64\)"):
        by_name("linux/s390x")
    assert by_arch("aarch64") is ARM64 and by_arch("arm64") is ARM64
    assert by_arch("x86_64") is AMD64 and by_arch("riscv64") is None
    assert ARM64.uv_platform == "aarch64-manylinux_2_28"
    assert ARM64.wheel_platforms[0] == "manylinux_2_28_aarch64"
    assert ARM64.wheel_platforms[-1] == "manylinux2014_aarch64"
    assert AMD64.wheel_platforms[-1] == "manylinux1_x86_64"
    assert ARM64.local_base("sagepack/base:bookworm-python3.11") == \
        "sagepack/base:bookworm-python3.11-arm64"
    assert AMD64.local_base("sagepack/base:bookworm-python3.11-arm64") == \
        "sagepack/base:bookworm-python3.11"


@pytest.mark.parametrize(("instance", "arm"), [
    ("ml.c7g.large", True), ("ml.m6gd.xlarge", True), ("ml.c6gn.2xlarge", True),
    ("ml.r8g.medium", True), ("ml.m5.large", False), ("ml.g5.xlarge", False),
    ("ml.c6i.large", False), ("ml.inf2.xlarge", False)])
def test_graviton_instance_types_are_told_apart(instance: str, arm: bool) -> None:
    assert ARM64.fits_instance(instance) is arm
    assert AMD64.fits_instance(instance) is not arm


def test_the_example_has_a_graviton_variant_on_the_arm64_base() -> None:
    iris = config.load(REPO, env={}).models["iris"]
    graviton, cpu = iris.variant("graviton"), iris.variant("cpu")
    assert graviton.platform is ARM64 and cpu.platform is AMD64
    assert graviton.base_image == "sagepack/base:bookworm-python3.11-arm64"
    assert cpu.base_image == "sagepack/base:bookworm-python3.11"
    assert graviton.realtime_instance_types == ("ml.c7g.large", "ml.m7g.large", "ml.c6g.large")
    assert graviton.transform_instance_types == ()
    assert cpu.realtime_instance_types == iris.realtime_instance_types
    assert not graviton.gpu
    # Both locks pin the same versions, so the two images answer alike.
    assert {(r.key, r.version) for r in read_lock(graviton.requirements)} == \
        {(r.key, r.version) for r in read_lock(cpu.requirements)}


MODEL = """
name = "m1"
version = "0.1.0"
content_types = ["text/csv"]
response_types = ["text/csv"]
realtime_instance_types = ["ml.m5.large"]
[variants.cpu]
requirements_in = "requirements/cpu.in"
requirements = "requirements/cpu.txt"
"""


def _project(tmp_path: Path, variants: str, pyproject: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.sagepack]\n'
                                             + pyproject)
    model = tmp_path / "artifacts" / "m1"
    (model / "code").mkdir(parents=True)
    (model / "code" / "inference.py").write_text("def model_fn(d):\n    return d\n")
    (model / "requirements").mkdir()
    (model / "requirements" / "cpu.in").write_text("numpy\n")
    (model / "sagepack.toml").write_text(MODEL + variants)
    return tmp_path


def test_every_platform_problem_is_reported_at_once_naming_file_and_key(
        tmp_path: Path) -> None:
    root = _project(tmp_path, """
[variants.s390]
platform = "linux/s390x"
requirements_in = "requirements/cpu.in"
requirements = "requirements/s390.txt"
[variants.armgpu]
platform = "linux/arm64"
gpu = true
requirements_in = "requirements/cpu.in"
requirements = "requirements/armgpu.txt"
realtime_instance_types = ["ml.c7g.large"]
transform_instance_types = []
[variants.armx86]
platform = "linux/arm64"
requirements_in = "requirements/cpu.in"
requirements = "requirements/armx86.txt"
realtime_instance_types = ["ml.c7g.large", "ml.m5.large"]
transform_instance_types = ["ml.m5.large"]
[variants.inherits]
platform = "linux/arm64"
requirements_in = "requirements/cpu.in"
requirements = "requirements/inherits.txt"
base_image = "sagepack/base:bookworm-python3.11"
[variants.x86arm]
requirements_in = "requirements/cpu.in"
requirements = "requirements/x86arm.txt"
realtime_instance_types = ["ml.c7g.large"]
""")
    with pytest.raises(ConfigError) as caught:
        config.load(root, env={})
    text = str(caught.value)
    file = "artifacts/m1/sagepack.toml"
    for key, words in [
        ("variants.s390.platform", "expected one of linux/amd64, linux/arm64, got 'linux/s390x'"),
        ("variants.armgpu.gpu", "GPU variants are linux/amd64 only"),
        ("variants.armx86.realtime_instance_types", "ml.m5.large do not have that CPU"),
        ("variants.armx86.transform_instance_types", "batch transform has no Graviton"),
        ("variants.inherits.realtime_instance_types", "the model's realtime_instance_types "
                                                      "(ml.m5.large) do not run a linux/arm64"),
        ("variants.inherits.base_image", "a local base of another platform; a linux/arm64 "
                                         "variant is built on "
                                         "sagepack/base:bookworm-python3.11-arm64"),
        ("variants.x86arm.realtime_instance_types", "ml.c7g.large do not have that CPU"),
    ]:
        line = next((x for x in text.splitlines() if f" {key}: " in x), "")
        assert words in line and file in line, (key, text)
    assert "variants.cpu" not in text  # the good variant is not blamed


def test_a_pulled_base_stays_as_named_and_a_gpu_variant_stays_amd64(tmp_path: Path) -> None:
    root = _project(tmp_path, """
[variants.arm]
platform = "linux/arm64"
requirements_in = "requirements/cpu.in"
requirements = "requirements/arm.txt"
base_image = "python:3.11-slim-bookworm"
realtime_instance_types = ["ml.m7g.large"]
""")
    variant = config.load(root, env={}).models["m1"].variant("arm")
    assert variant.base_image == "python:3.11-slim-bookworm"
    assert variant.platform is ARM64 and variant.transform_instance_types == ()


# --- locks and wheelhouses for aarch64 -----------------------------------------------------


@dataclass(frozen=True)
class Index:
    served: Served
    wheels: dict[str, Path]

    @property
    def url(self) -> str:
        return f"{self.served.url}/simple"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """A real index: ``tinydep`` (pure), ``native`` (x86_64 and aarch64 wheels) and
    ``x86only`` (an x86_64 wheel alone)."""
    built = tmp_path_factory.mktemp("wheels")
    wheels = {
        "tinydep": build_wheel(built, "tinydep", "1.0.0"),
        "native-x86_64": build_wheel(built, "native", "2.0.0", tag=X86_ONLY),
        "native-aarch64": build_wheel(built, "native", "2.0.0", tag=ARM_ONLY),
        "x86only": build_wheel(built, "x86only", "3.0.0", tag=X86_ONLY),
    }
    root = tmp_path_factory.mktemp("index")
    write_simple_tree(root, list(wheels.values()))
    with serve(root) as served:
        yield Index(served, wheels)


def _indexed_project(root: Path, index: Index, model_in: str) -> Path:
    (root / "containers/requirements").mkdir(parents=True)
    (root / "containers/requirements/serving.in").write_text("tinydep\n")
    _project(root, """
[variants.graviton]
platform = "linux/arm64"
requirements_in = "requirements/cpu.in"
requirements = "requirements/graviton.txt"
realtime_instance_types = ["ml.c7g.large"]
""", pyproject=f'[[tool.sagepack.index]]\nname = "local"\nurl = "{index.url}"\n'
               "default = true\n")
    (root / "artifacts/m1/requirements/cpu.in").write_text(model_in)
    return root


def test_lock_resolves_aarch64_wheels_and_the_wheelhouse_is_per_platform(
        index: Index, tmp_path: Path) -> None:
    root = _indexed_project(tmp_path / "p", index, "native\n")
    model = config.load(root, env={}).models["m1"]
    cpu, graviton = lock(model, "cpu"), lock(model, "graviton")
    # Every file's hash is listed, so both locks can have the same text ...
    assert {r.key for r in read_lock(graviton)} == {"native", "tinydep"}
    assert cpu.read_bytes() == graviton.read_bytes()
    # ... and the wheelhouse is kept per platform: each holds its own architecture's wheel.
    cache = tmp_path / "cache"
    x86 = ensure_wheelhouse(cpu, cache, indexes=model.variant("cpu").indexes)
    arm = ensure_wheelhouse(graviton, cache, indexes=model.variant("graviton").indexes,
                            platform=ARM64)
    assert x86.path != arm.path and x86.lock_sha256 == arm.lock_sha256
    assert arm.path.parent.name == "aarch64" and x86.path.parent.name == "x86_64"
    assert sorted(w.filename for w in arm.wheels) == sorted(
        [index.wheels["native-aarch64"].name, index.wheels["tinydep"].name])
    assert sorted(w.filename for w in x86.wheels) == sorted(
        [index.wheels["native-x86_64"].name, index.wheels["tinydep"].name])
    # A wheelhouse of the other architecture is refused, naming the wheel.
    with pytest.raises(LockError, match=r"native==2\.0\.0: wheel native-2\.0\.0-.*x86_64\.whl "
                                        r"does not fit CPython 3\.11 on manylinux aarch64"):
        verify(x86.path, read_lock(graviton), graviton, platform=ARM64)


def test_a_package_without_an_aarch64_wheel_fails_the_lock_with_its_name(
        index: Index, tmp_path: Path) -> None:
    root = _indexed_project(tmp_path / "p", index, "x86only\n")
    model = config.load(root, env={}).models["m1"]
    assert {r.key for r in read_lock(lock(model, "cpu"))} == {"x86only", "tinydep"}
    with pytest.raises(LockError) as caught:
        lock(model, "graviton")
    message = str(caught.value)
    first = message.splitlines()[0]
    assert first.startswith("locking artifacts/m1/requirements/cpu.in for linux/arm64 failed")
    assert first.endswith(": no aarch64 wheel of x86only for CPython 3.11 on manylinux (the "
                          "lock takes wheels only):")
    assert not model.variant("graviton").requirements.exists()  # nothing half-written


def test_uv_messages_name_the_packages_without_a_wheel() -> None:
    output = ("  cause: Because onnxruntime-gpu>=1.15.0 has no wheels with a matching platform "
              "tag (e.g., `manylinux_2_28_aarch64`) and you require onnxruntime-gpu, ...\n"
              "hint: Wheels are available for `Other_Pkg` (v1.2) on the following platforms:"
              " `manylinux_2_28_x86_64`\n")
    assert no_wheel_for(output) == ["onnxruntime-gpu", "other-pkg"]
    assert no_wheel_for("error: network unreachable") == []


@pytest.mark.parametrize(("name", "arm", "x86"), [
    ("numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl", True, False),
    ("numpy-2.4.6-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", False, True),
    ("uvloop-0.22-cp311-cp311-manylinux2014_aarch64.whl", True, False),
    ("h11-0.16.0-py3-none-any.whl", True, True),
    ("onnxruntime-1.31-cp311-cp311-manylinux_2_34_aarch64.whl", False, False),  # glibc too new
])
def test_wheel_tags_fit_each_platform(name: str, arm: bool, x86: bool) -> None:
    assert wheel_fits_image(name, ARM64) is arm
    assert wheel_fits_image(name, AMD64) is x86


@pytest.mark.slow
def test_the_example_locks_for_aarch64_from_pypi(tmp_path: Path) -> None:
    """The real resolver against PyPI: onnxruntime and numpy have aarch64 wheels."""
    settings = config.load(REPO, env={})
    iris = settings.models["iris"]
    graviton = iris.variant("graviton")
    import dataclasses
    copy = tmp_path / "graviton.txt"
    variant = dataclasses.replace(graviton, requirements=copy)
    model = dataclasses.replace(iris, variants={**iris.variants, "graviton": variant})
    path = lock(model, "graviton", project_root=REPO, upgrade=True)
    names = {r.key for r in read_lock(path)}
    assert {"onnxruntime", "numpy", "uvloop", "httptools", "uvicorn"} <= names
    house = ensure_wheelhouse(path, tmp_path / "cache", platform=ARM64)
    assert all(wheel_fits_image(w.filename, ARM64) for w in house.wheels)
    assert any("aarch64" in w.filename for w in house.wheels if w.name == "onnxruntime")


# --- emulation ----------------------------------------------------------------------------


def _binfmt(tmp_path: Path, entry: str | None, mounted: bool = True) -> Path:
    folder = tmp_path / "binfmt_misc"
    folder.mkdir(parents=True)
    if mounted:
        (folder / "register").write_text("")
    if entry is not None:
        (folder / "qemu-aarch64").write_text(entry)
    return folder


REGISTERED = ("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: {flags}\n"
              "offset 0\nmagic 7f454c460201010000000000000000000200b700\n")


def test_emulation_is_refused_naming_what_to_run(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulation, "host", lambda: AMD64)
    assert emulation.require(AMD64, "building x", _binfmt(tmp_path / "a", None)) is False
    with pytest.raises(EmulationUnavailable, match=(
            r"building x needs aarch64 emulation on this x86_64 machine, and binfmt_misc is "
            r"not mounted at .*; set it up as root: scripts/bootstrap.sh \(or: apt-get install "
            r"qemu-user-static; mount -t binfmt_misc")):
        emulation.require(ARM64, "building x", _binfmt(tmp_path / "b", None, mounted=False))
    with pytest.raises(EmulationUnavailable, match=r"no qemu-aarch64 binfmt_misc handler is "
                                                   r"registered.*qemu-aarch64\.conf > "
                                                   r"/proc/sys/fs/binfmt_misc/register"):
        emulation.require(ARM64, "running y", _binfmt(tmp_path / "c", None))
    with pytest.raises(EmulationUnavailable, match=r"without the F \(fix-binary\) flag"):
        emulation.require(ARM64, "running y",
                          _binfmt(tmp_path / "d", REGISTERED.format(flags="OC")))
    with pytest.raises(EmulationUnavailable, match=r"\(disabled\)"):
        emulation.require(ARM64, "running y", _binfmt(
            tmp_path / "e", REGISTERED.format(flags="POF").replace("enabled", "disabled")))
    assert emulation.require(ARM64, "running y",
                             _binfmt(tmp_path / "f", REGISTERED.format(flags="POF"))) is True


def test_this_machine_runs_arm64_images() -> None:
    """What the bootstrap sets up: CI builds and tests the arm64 image, so it must hold."""
    assert emulation.require(ARM64, "the Graviton variant") == emulation.emulated(ARM64)


def test_emulated_time_counts_the_target_stages_run_steps_only() -> None:
    def step(n: int, text: str, seconds: float, cached: bool = False) -> Step:
        return Step(n, 9, text, cached=cached, seconds=seconds)

    engine = EngineResult("sha256:x", (
        step(1, "ARG BASE_IMAGE=b", 0), step(2, "FROM ${BUILDER_IMAGE} AS builder", 0),
        step(3, "RUN python3 -m venv /opt/venv && uv pip install ...", 30.0),
        step(4, "FROM sagepack/base:bookworm-python3.11-arm64 AS runtime", 0),
        step(5, "RUN mkdir -p /opt/ml/model", 4.0), step(6, "COPY --from=builder ...", 2.0),
        step(7, "RUN true", 9.0, cached=True)), 50.0)
    cross = Builder("sagepack-cache/cross-base:bookworm-python3.11-amd64-as-arm64",
                    "sagepack/base:bookworm-python3.11", AMD64, ARM64.uv_platform)
    assert emulated_step_seconds(engine, cross, emulated=True) == 4.0
    native = Builder("sagepack/base:bookworm-python3.11-arm64",
                     "sagepack/base:bookworm-python3.11-arm64", ARM64, "")
    assert emulated_step_seconds(engine, native, emulated=True) == 34.0
    assert emulated_step_seconds(engine, cross, emulated=False) == 0.0


def test_the_foreign_second_stage_reads_only_the_unpacked_packages_index(
        tmp_path: Path) -> None:
    from sagepack.images.rootfs import trim_package_lists

    (tmp_path / "debootstrap").mkdir()
    (tmp_path / "debootstrap/required").write_text("libc6 base-files\n")
    (tmp_path / "debootstrap/base").write_text("python3\n")
    (tmp_path / "debootstrap/debpaths").write_text(
        "libc6 /var/cache/apt/archives/libc6_2.36_arm64.deb\n"
        "ca-certificates /var/cache/apt/archives/ca-certificates_2023_all.deb\n")
    lists = tmp_path / "var/lib/apt/lists"
    lists.mkdir(parents=True)
    index = lists / "deb.debian.org_debian_dists_bookworm_main_binary-arm64_Packages"
    stanza = "Package: {}\nVersion: 1\nArchitecture: arm64\nDescription: x\n multi-line\n"
    names = ["0ad", "base-files", "ca-certificates", "emacs", "libc6", "python3", "zsh"]
    index.write_text("\n".join(stanza.format(n) for n in names))
    trim_package_lists(tmp_path)
    text = index.read_text()
    kept = [line.split(": ")[1] for line in text.splitlines() if line.startswith("Package: ")]
    assert kept == ["base-files", "ca-certificates", "libc6", "python3"]
    assert stanza.format("libc6") in text  # stanzas kept whole, continuation lines too


def test_the_platform_check_fails_when_the_image_config_names_another_architecture() -> None:
    arm64_config = {"Os": "linux", "Architecture": "arm64"}
    assert check_platform(arm64_config, ARM64).passed
    wrong = check_platform(arm64_config, AMD64)
    assert not wrong.passed
    assert "linux/arm64" in wrong.detail and "linux/amd64" in wrong.detail
