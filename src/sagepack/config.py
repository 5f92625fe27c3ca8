"""Configuration: files -> frozen dataclasses, read once.

Two sources, one precedence (flag > environment > file > default):

- ``[tool.sagepack]`` in the project's ``pyproject.toml``: project-wide settings (region,
  ECR repository naming, S3 bucket and prefix, default base images, limits).
- ``artifacts/<name>/sagepack.toml``: one model (name, version, handler, variants, content
  types, instance types, samples, validation transform, packaging rules).

Every problem found is collected and reported at once in a :class:`ConfigError` whose lines
name the file, the key and what was expected.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from sagepack.errors import ConfigError, ConfigProblem

MODEL_CONFIG_NAME = "sagepack.toml"
IGNORE_FILE_NAME = ".sagepackignore"
DEFAULT_BASE_IMAGE = "sagepack/base:bookworm-python3.11"
DEFAULT_EXCLUDES = (MODEL_CONFIG_NAME, IGNORE_FILE_NAME, "samples/", "requirements/")
SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
STRATEGIES = ("SingleRecord", "MultiRecord")
ARTIFACT_MODES = ("dynamic", "baked")
DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"

# Environment variables sagepack reads (all of them, here and nowhere else).
ENV_OVERRIDES = {
    "SAGEPACK_REGION": "region",
    "SAGEPACK_ECR_REPOSITORY": "ecr_repository",
    "SAGEPACK_ACCOUNT_ID": "account_id",
    "SAGEPACK_S3_BUCKET": "s3_bucket",
    "SAGEPACK_S3_PREFIX": "s3_prefix",
    "SAGEPACK_KMS_KEY_ID": "kms_key_id",
    "SAGEPACK_DIST_DIR": "dist_dir",
    "SAGEPACK_REGISTRY": "registry",
    "SAGEPACK_VALIDATION_ROLE_ARN": "validation_role_arn",
    "SAGEPACK_WHEELHOUSE_DIR": "wheelhouse_dir",
    "SAGEPACK_DEBIAN_MIRROR": "debian_mirror",
}

T = TypeVar("T")


# --- dataclasses -----------------------------------------------------------------------


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


@dataclass(frozen=True)
class Sample:
    """A request body with its content type, Accept and expected response."""

    name: str
    body: Path
    content_type: str
    accept: str
    expected: Path


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

    def variant(self, name: str) -> Variant:
        try:
            return self.variants[name]
        except KeyError:
            known = ", ".join(sorted(self.variants)) or "none"
            raise ConfigError([ConfigProblem(self.config_file, f"variants.{name}",
                                             f"no such variant (configured: {known})")]) from None


@dataclass(frozen=True)
class ProjectConfig:
    """``[tool.sagepack]`` with environment overrides applied."""

    root: Path
    config_file: Path
    region: str
    ecr_repository: str
    s3_bucket: str
    s3_prefix: str
    dist_dir: Path
    artifacts_dir: Path
    base_images: Mapping[str, str]
    account_id: str | None = None
    kms_key_id: str | None = None
    registry: str | None = None
    validation_role_arn: str | None = None
    tag_mutability: str = "IMMUTABLE"
    source_date_epoch: int | None = None
    wheelhouse_dir: Path = Path("~/.cache/sagepack/wheelhouse")
    debian_mirror: str = DEFAULT_DEBIAN_MIRROR
    create_model_package: bool = False
    max_archive_bytes: int = 50 * 1024**3
    max_archive_members: int = 100_000
    source_url: str = ""

    def repository_for(self, model: str) -> str:
        return self.ecr_repository.format(model=model)

    def dist_for(self, model: str) -> Path:
        return self.dist_dir / model


@dataclass(frozen=True)
class Settings:
    """Everything sagepack knows about a project, read once."""

    project: ProjectConfig
    models: Mapping[str, ModelConfig]

    def select(self, name: str | None) -> list[ModelConfig]:
        """The models a ``--model`` flag names (all of them when ``None``)."""
        if name is None:
            return [self.models[k] for k in sorted(self.models)]
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError([ConfigProblem(self.project.artifacts_dir / name, "",
                                             f"no model named '{name}' (found: {known})")])
        return [self.models[name]]

    def select_one(self, name: str | None) -> ModelConfig:
        """The one model a command works on: ``name``, or the only model there is."""
        models = self.select(name)
        if len(models) != 1:
            raise ConfigError([ConfigProblem(self.project.artifacts_dir, "",
                                             "several models: name one with --model ("
                                             + ", ".join(m.name for m in models) + ")")])
        return models[0]


# --- a small validating reader ---------------------------------------------------------


class _Table:
    """Reads one TOML table, recording problems instead of raising on the first one."""

    def __init__(self, data: Mapping[str, Any], file: Path, prefix: str,
                 problems: list[ConfigProblem]) -> None:
        self.data = data
        self.file = file
        self.prefix = prefix
        self.problems = problems
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def problem(self, name: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.file, self.key(name), message))

    def get(self, name: str, kind: type[T], default: T | None = None, *,
            required: bool = False, label: str = "") -> T | None:
        self.seen.add(name)
        if name not in self.data:
            if required:
                self.problem(name, f"required {label or kind.__name__} is missing")
            return default
        value = self.data[name]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.problem(name, f"expected {label or kind.__name__}, got "
                               f"{type(value).__name__} {value!r}")
            return default
        return value  # type: ignore[no-any-return]

    def strings(self, name: str, default: tuple[str, ...] = (), *,
                required: bool = False) -> tuple[str, ...]:
        value = self.get(name, list, None, required=required, label="list of strings")
        if value is None:
            return default
        if not all(isinstance(v, str) for v in value):
            self.problem(name, f"expected list of strings, got {value!r}")
            return default
        return tuple(value)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(name, str, default)
        assert value is not None
        if value not in choices:
            self.problem(name, f"expected one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def table(self, name: str) -> _Table | None:
        value = self.get(name, dict, None, label="table")
        if value is None:
            return None
        return _Table(value, self.file, f"{self.key(name)}.", self.problems)

    def path(self, name: str, root: Path, *, required: bool = True,
             must_exist: bool = True) -> Path | None:
        value = self.get(name, str, None, required=required, label="path (string)")
        if value is None:
            return None
        resolved = (root / value).resolve()
        if must_exist and not resolved.exists():
            self.problem(name, f"path does not exist: {resolved}")
        return resolved

    def string_map(self, name: str) -> dict[str, str]:
        sub = self.get(name, dict, None, label="table of strings")
        if sub is None:
            return {}
        bad = [k for k, v in sub.items() if not isinstance(v, str)]
        for k in bad:
            self.problems.append(ConfigProblem(self.file, f"{self.key(name)}.{k}",
                                               f"expected string, got {sub[k]!r}"))
        return {k: v for k, v in sub.items() if isinstance(v, str)}

    def finish(self) -> None:
        for unknown in sorted(set(self.data) - self.seen):
            self.problem(unknown, "unknown key")


def _read_toml(file: Path, problems: list[ConfigProblem]) -> dict[str, Any] | None:
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        problems.append(ConfigProblem(file, "", "file not found"))
    except tomllib.TOMLDecodeError as exc:
        problems.append(ConfigProblem(file, "", f"not valid TOML: {exc}"))
    return None


# --- project ---------------------------------------------------------------------------


def _load_project(root: Path, env: Mapping[str, str],
                  problems: list[ConfigProblem]) -> ProjectConfig:
    file = root / "pyproject.toml"
    data = _read_toml(file, problems) or {}
    raw = data.get("tool", {}).get("sagepack", {})
    t = _Table(raw if isinstance(raw, dict) else {}, file, "tool.sagepack.", problems)

    values: dict[str, Any] = {
        "region": t.get("region", str, "us-east-1"),
        "ecr_repository": t.get("ecr_repository", str, "sagepack/{model}"),
        "account_id": t.get("account_id", str, None),
        "s3_bucket": t.get("s3_bucket", str, ""),
        "s3_prefix": t.get("s3_prefix", str, "models"),
        "kms_key_id": t.get("kms_key_id", str, None),
        "registry": t.get("registry", str, None),
        "validation_role_arn": t.get("validation_role_arn", str, None),
        "dist_dir": t.get("dist_dir", str, "dist"),
        "wheelhouse_dir": t.get("wheelhouse_dir", str, None),
        "debian_mirror": t.get("debian_mirror", str, DEFAULT_DEBIAN_MIRROR),
    }
    artifacts = t.get("artifacts_dir", str, "artifacts") or "artifacts"
    tag_mutability = t.choice("tag_mutability", ("MUTABLE", "IMMUTABLE"), "IMMUTABLE")
    create_package = t.get("create_model_package", bool, False)
    max_bytes = t.get("max_archive_bytes", int, 50 * 1024**3)
    max_members = t.get("max_archive_members", int, 100_000)
    source_url = t.get("source_url", str, None)
    if source_url is None:
        urls = data.get("project", {}).get("urls", {})
        source_url = urls.get("Source", "") if isinstance(urls, dict) else ""
    bases = {"cpu": DEFAULT_BASE_IMAGE, "cuda": DEFAULT_BASE_IMAGE}
    bases.update(t.string_map("base_images"))
    t.finish()

    for var, attr in ENV_OVERRIDES.items():
        if env.get(var):
            values[attr] = env[var]
    if not env.get("SAGEPACK_REGION") and env.get("AWS_REGION") and "region" not in raw:
        values["region"] = env["AWS_REGION"]

    epoch_text = env.get("SOURCE_DATE_EPOCH", "").strip()
    source_date_epoch = None
    if epoch_text:
        if epoch_text.isdigit():
            source_date_epoch = int(epoch_text)
        else:
            problems.append(ConfigProblem(Path("$SOURCE_DATE_EPOCH"), "",
                                          f"expected a whole number of seconds, got "
                                          f"{epoch_text!r}"))
    cache_home = Path(env.get("XDG_CACHE_HOME") or Path(env.get("HOME", "~")) / ".cache")
    wheelhouse = Path(values["wheelhouse_dir"] or cache_home / "sagepack" / "wheelhouse")

    if "{model}" not in values["ecr_repository"]:
        problems.append(ConfigProblem(file, "tool.sagepack.ecr_repository",
                                      "expected a name containing '{model}', got "
                                      f"{values['ecr_repository']!r}"))
    return ProjectConfig(
        root=root,
        config_file=file,
        region=values["region"],
        ecr_repository=values["ecr_repository"],
        s3_bucket=values["s3_bucket"],
        s3_prefix=values["s3_prefix"].strip("/"),
        dist_dir=(root / values["dist_dir"]).resolve(),
        artifacts_dir=(root / artifacts).resolve(),
        base_images=bases,
        account_id=values["account_id"],
        kms_key_id=values["kms_key_id"],
        registry=values["registry"],
        validation_role_arn=values["validation_role_arn"],
        tag_mutability=tag_mutability,
        source_date_epoch=source_date_epoch,
        wheelhouse_dir=wheelhouse.expanduser(),
        debian_mirror=values["debian_mirror"],
        create_model_package=bool(create_package),
        max_archive_bytes=max_bytes or 50 * 1024**3,
        max_archive_members=max_members or 100_000,
        source_url=source_url or "",
    )


# --- models ----------------------------------------------------------------------------

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def _load_variant(name: str, t: _Table, model_root: Path,
                  project: ProjectConfig) -> Variant | None:
    req_in = t.path("requirements_in", model_root, required=True)
    req = t.path("requirements", model_root, required=True, must_exist=False)
    base = t.get("base_image", str, None)
    gpu = t.get("gpu", bool, name == "cuda")
    env = t.string_map("env")
    max_size = t.get("max_image_size_mb", int, None)
    t.finish()
    if req_in is None or req is None:
        return None
    default_base = project.base_images.get(name, project.base_images.get("cpu",
                                                                          DEFAULT_BASE_IMAGE))
    return Variant(name=name, requirements_in=req_in, requirements=req,
                   base_image=base or default_base, gpu=bool(gpu), env=env,
                   max_image_size_mb=max_size)


def _load_sample(t: _Table, model_root: Path, index: int) -> Sample | None:
    name = t.get("name", str, f"sample{index}")
    body = t.path("body", model_root)
    content_type = t.get("content_type", str, None, required=True)
    accept = t.get("accept", str, None, required=True)
    expected = t.path("expected", model_root)
    t.finish()
    if body is None or expected is None or content_type is None or accept is None:
        return None
    return Sample(name=name or f"sample{index}", body=body, content_type=content_type,
                  accept=accept, expected=expected)


def _load_validation(t: _Table, model_root: Path) -> ValidationTransform | None:
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
    data = _read_toml(file, problems)
    if data is None:
        return None
    before = len(problems)
    t = _Table(data, file, "", problems)
    name = t.get("name", str, None, required=True)
    if name is not None and not _NAME.match(name):
        t.problem("name", "expected lower-case letters, digits, '.', '_' or '-' "
                          f"(an ECR-safe name), got {name!r}")
    version = t.get("version", str, None, required=True)
    if version is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$", version):
        t.problem("version", f"expected a tag-safe version such as 1.2.0, got {version!r}")
    description = t.get("description", str, "") or ""
    handler = t.get("handler", str, "code/inference.py") or "code/inference.py"
    if not (model_root / handler).is_file():
        t.problem("handler", f"path does not exist: {model_root / handler}")
    mode = t.choice("artifact_mode", ARTIFACT_MODES, "dynamic")
    content_types = t.strings("content_types", required=True)
    response_types = t.strings("response_types", required=True)
    realtime = t.strings("realtime_instance_types", ("ml.m5.large",))
    transform = t.strings("transform_instance_types", ("ml.m5.large",))
    exclude = t.strings("exclude", ())
    package_group = t.get("model_package_group", str, None)
    env = t.string_map("env")

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
            variant = _load_variant(vname, sub, model_root, project)
            if variant is not None:
                variants[vname] = variant

    samples: list[Sample] = []
    raw_samples = t.get("samples", list, [], label="array of tables [[samples]]") or []
    for i, raw in enumerate(raw_samples):
        if not isinstance(raw, dict):
            problems.append(ConfigProblem(file, f"samples[{i}]", "expected a table"))
            continue
        sample = _load_sample(_Table(raw, file, f"samples[{i}].", problems), model_root, i)
        if sample is not None:
            samples.append(sample)

    validation = None
    val_t = t.table("validation")
    if val_t is not None:
        validation = _load_validation(val_t, model_root)
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
        model_package_group=package_group, env=env,
    )


def load(root: Path | str = ".", env: Mapping[str, str] | None = None,
         **overrides: Any) -> Settings:
    """Read the project at ``root`` once. ``overrides`` are CLI flags (``region=...``);
    ``None`` values mean "not given" and are ignored."""
    root = Path(root).resolve()
    environ = dict(os.environ) if env is None else dict(env)
    problems: list[ConfigProblem] = []
    project = _load_project(root, environ, problems)
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        project = apply_overrides(project, given)
    models: dict[str, ModelConfig] = {}
    if project.artifacts_dir.is_dir():
        for folder in sorted(project.artifacts_dir.iterdir()):
            if (folder / MODEL_CONFIG_NAME).is_file():
                model = load_model(folder, project, problems)
                if model is not None:
                    models[model.name] = model
    else:
        problems.append(ConfigProblem(project.config_file, "tool.sagepack.artifacts_dir",
                                      f"path does not exist: {project.artifacts_dir}"))
    if problems:
        raise ConfigError(problems)
    return Settings(project=project, models=models)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {"dist_dir": Path}


def apply_overrides(project: ProjectConfig, given: Mapping[str, Any]) -> ProjectConfig:
    """A copy of ``project`` with flag values applied (flags win over everything)."""
    fields = set(project.__dataclass_fields__)
    unknown = sorted(set(given) - fields)
    if unknown:
        raise ConfigError([ConfigProblem(project.config_file, k, "unknown override")
                           for k in unknown])
    converted = {k: _CONVERTERS.get(k, lambda v: v)(v) for k, v in given.items()}
    return replace(project, **converted)
