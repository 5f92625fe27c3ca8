"""One model: ``artifacts/<name>/sagepack.toml`` -> :class:`ModelConfig` (name, version,
handler, variants, content and instance types, samples, validation transform, packaging
rules)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sagepack.config.deploy import DeploySettings, load_deploy
from sagepack.config.indexes import IndexSet, load_indexes, merge
from sagepack.config.project import DEFAULT_BASE_IMAGE, ProjectConfig, read_toml
from sagepack.cuda import TARGET_KEYS, CudaTarget, parse_target
from sagepack.errors import ConfigError, ConfigProblem
from sagepack.platforms import DEFAULT as DEFAULT_PLATFORM
from sagepack.platforms import SUPPORTED as PLATFORMS
from sagepack.platforms import Platform, is_local_base
from sagepack.problems import Reader

MODEL_CONFIG_NAME = "sagepack.toml"
IGNORE_FILE_NAME = ".sagepackignore"
DEFAULT_EXCLUDES = (MODEL_CONFIG_NAME, IGNORE_FILE_NAME, "samples/", "requirements/")
SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
STRATEGIES = ("SingleRecord", "MultiRecord")
ARTIFACT_MODES = ("dynamic", "baked")
#: How the model's files reach SageMaker: one ``model.tar.gz``, or each file as it is
#: under an S3 prefix (``ModelDataSource``, ``CompressionType: None``).
COMPRESSED, UNCOMPRESSED = "compressed", "uncompressed"
MODEL_DATA = (COMPRESSED, UNCOMPRESSED)
#: ``max_request_mb`` (asynchronous payloads, up to 1 GB) and ``timeout_s`` (up to 3,600 s).
MAX_REQUEST_MB_RANGE = (1, 1024)
TIMEOUT_S_RANGE = (1, 3600)


@dataclass(frozen=True)
class Variant:
    """One image flavour of a model (``cpu``, ``cuda``)."""

    name: str
    requirements_in: Path
    requirements: Path
    base_image: str
    gpu: bool
    env: Mapping[str, str] = field(default_factory=dict)
    max_image_size_mb: int | None = None
    cuda: CudaTarget | None = None
    """What a GPU variant's CUDA libraries target (None on CPU variants)."""
    indexes: IndexSet = field(default_factory=IndexSet)
    """The package indexes its lock and wheelhouse use: its own, then the project's."""
    platform: Platform = DEFAULT_PLATFORM
    """What it is built for (``platform = "linux/arm64"``: Graviton)."""
    realtime_instance_types: tuple[str, ...] = ("ml.m5.large",)
    """What its model package lists: its own, else the model's (of its platform)."""
    transform_instance_types: tuple[str, ...] = ("ml.m5.large",)


@dataclass(frozen=True)
class Sample:
    """A request body with its content type, Accept and, once known, expected response."""

    name: str
    body: Path
    content_type: str
    accept: str
    expected: Path | None = None
    """The answer to compare with; None: the sample must only answer 2xx (``invoke test
    --record`` writes the answer it gets as the expected one)."""
    stream: bool = False
    """The response is streamed (chunked): ``invoke test`` checks it comes in chunks."""
    index: int = 0
    """Its place among the ``[[samples]]`` of ``sagepack.toml`` (``samples[index]``)."""


@dataclass(frozen=True)
class ValidationTransform:
    """The batch transform Marketplace validation runs on the package."""

    input: Path
    expected: Path
    content_type: str
    accept: str
    split_type: str = "Line"
    strategy: str = "MultiRecord"
    max_payload_mb: int = 6
    assemble_with: str = "Line"
    instance_type: str = "ml.m5.large"


@dataclass(frozen=True)
class ModelConfig:
    """One model folder ``artifacts/<name>/`` and its ``sagepack.toml``."""

    name: str
    version: str
    root: Path
    config_file: Path
    handler: str
    artifact_mode: str
    variants: Mapping[str, Variant]
    content_types: tuple[str, ...]
    response_types: tuple[str, ...]
    realtime_instance_types: tuple[str, ...]
    transform_instance_types: tuple[str, ...]
    samples: tuple[Sample, ...]
    validation: ValidationTransform | None
    exclude: tuple[str, ...]
    description: str = ""
    model_package_group: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    max_request_mb: int | None = None
    """Real-time body limit (MiB) baked into the image; None: the server's 6 MiB."""
    timeout_s: int | None = None
    """Invocation timeout (s) baked into the image; None: the server's default."""
    multi_model: bool = False
    """A multi-model endpoint image: no model inside, models loaded through ``/models``."""
    test_models: tuple[str, ...] = ()
    """Multi-model: the models whose packaged archives ``invoke test`` loads into it."""
    model_data: str = COMPRESSED
    """``compressed`` (one ``model.tar.gz``) or ``uncompressed`` (the files under a prefix)."""

    def variant(self, name: str) -> Variant:
        try:
            return self.variants[name]
        except KeyError:
            known = ", ".join(sorted(self.variants)) or "none"
            raise ConfigError([ConfigProblem(self.config_file, f"variants.{name}",
                                             f"no such variant (configured: {known})")]) from None


MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
"""What a model (and its folder) may be called: ECR-safe."""


def _instance_types(t: Reader, key: str, platform: Platform,
                    model_types: tuple[str, ...]) -> tuple[str, ...]:
    """A variant's ``key`` (its own, else the model's): every type must have the variant's
    CPU. SageMaker's batch transform has no Graviton instances."""
    own = key in t.data
    types = t.strings(key, model_types)
    wrong = [i for i in types if not platform.fits_instance(i)]
    if not wrong:
        return types
    if platform is not DEFAULT_PLATFORM and key == "transform_instance_types":
        t.problem(key, f"SageMaker's batch transform has no {platform.instances} instances: "
                       f"expected [], got {list(types)}"
                  + ("" if own else " (the model's; set [] in this variant)"))
    elif own:
        t.problem(key, f"a {platform.docker} image runs on {platform.instances} instances; "
                       f"{', '.join(wrong)} do not have that CPU")
    else:
        t.problem(key, f"the model's {key} ({', '.join(wrong)}) do not run a "
                       f"{platform.docker} image: list {platform.instances} types here")
    return types


def _load_variant(name: str, t: Reader, model_root: Path, project: ProjectConfig,
                  instance_types: tuple[tuple[str, ...], tuple[str, ...]]) -> Variant | None:
    req_in = t.path("requirements_in", model_root, required=True)
    req = t.path("requirements", model_root, required=True, must_exist=False)
    base = t.get("base_image", str, None)
    gpu = t.get("gpu", bool, name == "cuda")
    platform_name = t.choice("platform", tuple(PLATFORMS), DEFAULT_PLATFORM.docker)
    platform = PLATFORMS[platform_name]
    if gpu and platform is not DEFAULT_PLATFORM:
        t.problem("gpu", f"GPU variants are {DEFAULT_PLATFORM.docker} only (SageMaker's "
                         f"Graviton instances have no GPU): set gpu = false or platform = "
                         f"{DEFAULT_PLATFORM.docker!r}")
    realtime = _instance_types(t, "realtime_instance_types", platform, instance_types[0])
    default_transform = instance_types[1] if platform is DEFAULT_PLATFORM else ()
    transform = _instance_types(t, "transform_instance_types", platform, default_transform)
    env = t.string_map("env")
    max_size = t.get("max_image_size_mb", int, None)
    target = parse_target(t.data, gpu=bool(gpu))
    own_indexes = load_indexes(t, project.credentials)
    t.seen.update(TARGET_KEYS)
    if isinstance(target, list):
        for problem in target:
            t.problem(problem.key, problem.message)
    default_base = project.base_images.get(name, project.base_images.get("cpu",
                                                                          DEFAULT_BASE_IMAGE))
    if base is None and is_local_base(default_base):  # the default base, for the platform
        default_base = platform.local_base(default_base)
    chosen = base or default_base
    if is_local_base(chosen) and platform.local_base(chosen) != chosen:
        t.problem("base_image", f"{chosen} is a local base of another platform; a "
                                f"{platform.docker} variant is built on "
                                f"{platform.local_base(chosen)}")
    t.finish()
    if req_in is None or req is None:
        return None
    return Variant(name=name, requirements_in=req_in, requirements=req,
                   base_image=chosen, gpu=bool(gpu), env=env,
                   max_image_size_mb=max_size,
                   cuda=target if isinstance(target, CudaTarget) else None,
                   indexes=merge(own_indexes, project.indexes), platform=platform,
                   realtime_instance_types=realtime, transform_instance_types=transform)


def _load_sample(t: Reader, model_root: Path, index: int) -> Sample | None:
    name = t.get("name", str, f"sample{index}")
    body = t.path("body", model_root)
    content_type = t.get("content_type", str, None, required=True)
    accept = t.get("accept", str, None, required=True)
    expected = t.path("expected", model_root, required=False)
    stream = t.get("stream", bool, False)
    t.finish()
    if body is None or content_type is None or accept is None:
        return None
    return Sample(name=name or f"sample{index}", body=body, content_type=content_type,
                  accept=accept, expected=expected, stream=bool(stream), index=index)


def _bounded(t: Reader, name: str, bounds: tuple[int, int]) -> int | None:
    """An optional integer within ``bounds`` (inclusive)."""
    value = t.get(name, int, None)
    if value is not None and not bounds[0] <= value <= bounds[1]:
        t.problem(name, f"expected {bounds[0]} to {bounds[1]}, got {value}")
        return None
    return value


def _load_multi_model(t: Reader, mode: str) -> tuple[bool, tuple[str, ...]]:
    """``multi_model`` and ``test_models``: an MME image has no model baked in, and is
    tested with two or more other models' archives."""
    multi = bool(t.get("multi_model", bool, False))
    tests = t.strings("test_models", ())
    if multi and mode != "dynamic":
        t.problem("artifact_mode", "a multi-model image holds no model: expected "
                                   f"'dynamic', got {mode!r}")
    if multi and len(tests) < 2:
        t.problem("test_models", "a multi-model image is tested with two or more models' "
                                 f"archives: expected at least 2 names, got {list(tests)}")
    if tests and not multi:
        t.problem("test_models", "only a multi-model image (multi_model = true) has test "
                                 "models")
    for other in tests:
        if not MODEL_NAME.match(other):
            t.problem("test_models", f"expected model names, got {other!r}")
    return multi, tests


def _load_model_data(t: Reader, mode: str, multi_model: bool) -> str:
    """``model_data``: uncompressed files are what a dynamic single-model image loads."""
    data = t.choice("model_data", MODEL_DATA, COMPRESSED)
    if data == UNCOMPRESSED and mode != "dynamic":
        t.problem("model_data", "a baked image holds its model inside, so it loads no model "
                                "data: 'uncompressed' needs artifact_mode = 'dynamic'")
    if data == UNCOMPRESSED and multi_model:
        t.problem("model_data", "a multi-model endpoint loads each model from a "
                                "model.tar.gz archive: 'uncompressed' is for single-model "
                                "images")
    return data


def _load_validation(t: Reader, model_root: Path) -> ValidationTransform | None:
    inp = t.path("input", model_root)
    expected = t.path("expected", model_root)
    content_type = t.get("content_type", str, None, required=True)
    accept = t.get("accept", str, None, required=True)
    split = t.choice("split_type", SPLIT_TYPES, "Line")
    strategy = t.choice("strategy", STRATEGIES, "MultiRecord")
    payload = t.get("max_payload_mb", int, 6) or 6
    if not 0 <= payload <= 100:
        t.problem("max_payload_mb", f"expected 0 to 100, got {payload}")
    assemble = t.choice("assemble_with", ("None", "Line"), "Line")
    instance = t.get("instance_type", str, "ml.m5.large") or "ml.m5.large"
    t.finish()
    if inp is None or expected is None or content_type is None or accept is None:
        return None
    return ValidationTransform(input=inp, expected=expected, content_type=content_type,
                               accept=accept, split_type=split, strategy=strategy,
                               max_payload_mb=payload, assemble_with=assemble,
                               instance_type=instance)


def load_model(model_root: Path, project: ProjectConfig,
               problems: list[ConfigProblem]) -> ModelConfig | None:
    """Read ``<model_root>/sagepack.toml``; problems are appended, never raised."""
    file = model_root / MODEL_CONFIG_NAME
    data = read_toml(file, problems)
    if data is None:
        return None
    before = len(problems)
    t = Reader(data, file, "", problems)
    name = t.get("name", str, None, required=True)
    if name is not None and not MODEL_NAME.match(name):
        t.problem("name", "expected lower-case letters, digits, '.', '_' or '-' "
                          f"(an ECR-safe name), got {name!r}")
    version = t.get("version", str, None, required=True)
    if version is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$", version):
        t.problem("version", f"expected a tag-safe version such as 1.2.0, got {version!r}")
    description = t.get("description", str, "") or ""
    handler = t.get("handler", str, "code/inference.py") or "code/inference.py"
    mode = t.choice("artifact_mode", ARTIFACT_MODES, "dynamic")
    multi_model, test_models = _load_multi_model(t, mode)
    model_data = _load_model_data(t, mode, multi_model)
    # A multi-model image has no handler of its own: each archive brings its code/.
    if not multi_model and not (model_root / handler).is_file():
        t.problem("handler", f"path does not exist: {model_root / handler}")
    content_types = t.strings("content_types", required=True)
    response_types = t.strings("response_types", required=True)
    realtime = t.strings("realtime_instance_types", ("ml.m5.large",))
    transform = t.strings("transform_instance_types", ("ml.m5.large",))
    exclude = t.strings("exclude", ())
    package_group = t.get("model_package_group", str, None)
    env = t.string_map("env")
    max_request_mb = _bounded(t, "max_request_mb", MAX_REQUEST_MB_RANGE)
    timeout_s = _bounded(t, "timeout_s", TIMEOUT_S_RANGE)

    variants: dict[str, Variant] = {}
    vt = t.table("variants")
    if vt is None:
        t.problem("variants", "required table is missing (at least [variants.cpu])")
    else:
        for vname in sorted(vt.data):
            vt.seen.add(vname)
            sub = vt.table(vname)
            if sub is None:
                continue
            variant = _load_variant(vname, sub, model_root, project, (realtime, transform))
            if variant is not None:
                variants[vname] = variant

    samples: list[Sample] = []
    raw_samples = t.get("samples", list, [], label="array of tables [[samples]]") or []
    for i, raw in enumerate(raw_samples):
        if not isinstance(raw, dict):
            problems.append(ConfigProblem(file, f"samples[{i}]", "expected a table"))
            continue
        sample = _load_sample(Reader(raw, file, f"samples[{i}].", problems), model_root, i)
        if sample is not None:
            samples.append(sample)

    validation = None
    val_t = t.table("validation")
    if val_t is not None:
        validation = _load_validation(val_t, model_root)
    if model_data == UNCOMPRESSED and val_t is not None and project.create_model_package:
        t.problem("model_data", "the model package's [validation] runs a batch transform, "
                                "and SageMaker's batch transform does not load uncompressed "
                                "model data (a ModelDataSource): remove [validation] or use "
                                "'compressed'")
    deploy = load_deploy(t.table("deploy"))
    t.finish()

    if len(problems) > before or name is None or version is None:
        return None
    if name != model_root.name:
        problems.append(ConfigProblem(file, "name", f"expected the folder's name "
                                                    f"{model_root.name!r}, got {name!r}"))
        return None
    return ModelConfig(
        name=name, version=version, root=model_root.resolve(), config_file=file,
        handler=handler, artifact_mode=mode, variants=variants,
        content_types=content_types, response_types=response_types,
        realtime_instance_types=realtime, transform_instance_types=transform,
        samples=tuple(samples), validation=validation,
        exclude=DEFAULT_EXCLUDES + exclude, description=description,
        model_package_group=package_group, env=env, deploy=deploy,
        max_request_mb=max_request_mb,
        timeout_s=timeout_s, multi_model=multi_model, test_models=test_models,
        model_data=model_data,
    )
