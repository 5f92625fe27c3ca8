"""The project: ``[tool.sagepack]`` of ``pyproject.toml`` with environment and flag overrides.

Precedence: flag > environment > file > default. :data:`ENV_OVERRIDES` lists every
environment variable sagepack reads for the project (here and nowhere else).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sagepack.config.indexes import CredentialSource, PackageIndex, load_indexes
from sagepack.config.supply import SupplyConfig, load_supply
from sagepack.errors import ConfigError, ConfigProblem
from sagepack.problems import Reader

DEFAULT_BASE_IMAGE = "sagepack/base:bookworm-python3.11"
DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEFAULT_DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"

# Environment variables sagepack reads (all of them, here and nowhere else; besides these,
# SOURCE_DATE_EPOCH and SAGEPACK_BASE_MAX_AGE_DAYS, whole numbers, are read in load_project;
# the credentials of package indexes, SAGEPACK_INDEX_<NAME>_USERNAME / _PASSWORD and NETRC,
# in .indexes).
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
    "SAGEPACK_EXECUTION_ROLE_ARN": "execution_role_arn",
    "SAGEPACK_WHEELHOUSE_DIR": "wheelhouse_dir",
    "SAGEPACK_DEBIAN_MIRROR": "debian_mirror",
    "SAGEPACK_DEBIAN_SECURITY_MIRROR": "debian_security_mirror",
}


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
    execution_role_arn: str | None = None
    tag_mutability: str = "IMMUTABLE"
    source_date_epoch: int | None = None
    wheelhouse_dir: Path = Path("~/.cache/sagepack/wheelhouse")
    debian_mirror: str = DEFAULT_DEBIAN_MIRROR
    debian_security_mirror: str = DEFAULT_DEBIAN_SECURITY_MIRROR
    create_model_package: bool = False
    max_archive_bytes: int = 50 * 1024**3
    max_archive_members: int = 100_000
    source_url: str = ""
    supply: SupplyConfig = field(default_factory=SupplyConfig)
    indexes: tuple[PackageIndex, ...] = ()
    """``[[tool.sagepack.index]]``: the package indexes of every variant's lock."""
    credentials: CredentialSource = field(default_factory=CredentialSource, repr=False)
    """Where the indexes' credentials are looked up (variants' indexes too)."""

    def repository_for(self, model: str) -> str:
        return self.ecr_repository.format(model=model)

    def dist_for(self, model: str) -> Path:
        return self.dist_dir / model


def derive_security_mirror(mirror: str) -> str | None:
    """Debian's security archive beside ``mirror``: its last ``debian`` path segment becomes
    ``debian-security`` (``http://deb.debian.org/debian`` ->
    ``http://deb.debian.org/debian-security``, a snapshot's ``/archive/debian/<time>`` ->
    ``/archive/debian-security/<time>``); ``None`` when it has no such segment."""
    scheme, sep, rest = mirror.rstrip("/").partition("://")
    if not sep:
        return None
    host, _, path = rest.partition("/")
    segments = path.split("/") if path else []
    for index in range(len(segments) - 1, -1, -1):
        if segments[index] == "debian":
            segments[index] = "debian-security"
            return f"{scheme}://{host}/{'/'.join(segments)}"
    return None


def read_toml(file: Path, problems: list[ConfigProblem]) -> dict[str, Any] | None:
    """The TOML document of ``file``, or ``None`` with a problem recorded."""
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        problems.append(ConfigProblem(file, "", "file not found"))
    except tomllib.TOMLDecodeError as exc:
        problems.append(ConfigProblem(file, "", f"not valid TOML: {exc}"))
    return None


def load_project(root: Path, env: Mapping[str, str],
                 problems: list[ConfigProblem]) -> ProjectConfig:
    """``[tool.sagepack]`` of ``root/pyproject.toml`` with ``env`` applied; problems are
    appended, never raised."""
    file = root / "pyproject.toml"
    data = read_toml(file, problems) or {}
    raw = data.get("tool", {}).get("sagepack", {})
    t = Reader(raw if isinstance(raw, dict) else {}, file, "tool.sagepack.", problems)

    values: dict[str, Any] = {
        "region": t.get("region", str, "us-east-1"),
        "ecr_repository": t.get("ecr_repository", str, "sagepack/{model}"),
        "account_id": t.get("account_id", str, None),
        "s3_bucket": t.get("s3_bucket", str, ""),
        "s3_prefix": t.get("s3_prefix", str, "models"),
        "kms_key_id": t.get("kms_key_id", str, None),
        "registry": t.get("registry", str, None),
        "validation_role_arn": t.get("validation_role_arn", str, None),
        "execution_role_arn": t.get("execution_role_arn", str, None),
        "dist_dir": t.get("dist_dir", str, "dist"),
        "wheelhouse_dir": t.get("wheelhouse_dir", str, None),
        "debian_mirror": t.get("debian_mirror", str, DEFAULT_DEBIAN_MIRROR),
        "debian_security_mirror": t.get("debian_security_mirror", str, None),
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
    supply = load_supply(t)
    credentials = CredentialSource.from_env(env)
    indexes = load_indexes(t, credentials)
    t.finish()

    for var, attr in ENV_OVERRIDES.items():
        if env.get(var):
            values[attr] = env[var]
    if not env.get("SAGEPACK_REGION") and env.get("AWS_REGION") and "region" not in raw:
        values["region"] = env["AWS_REGION"]

    age_text = env.get("SAGEPACK_BASE_MAX_AGE_DAYS", "").strip()
    if age_text:
        if age_text.isdigit() and int(age_text) > 0:
            supply = replace(supply, base_max_age_days=int(age_text))
        else:
            problems.append(ConfigProblem(Path("$SAGEPACK_BASE_MAX_AGE_DAYS"), "",
                                          "expected a whole number of days above 0, got "
                                          f"{age_text!r}"))
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

    security_mirror = values["debian_security_mirror"] or \
        derive_security_mirror(values["debian_mirror"])
    if security_mirror is None:
        problems.append(ConfigProblem(file, "tool.sagepack.debian_security_mirror",
                                      "cannot derive Debian's security mirror from "
                                      f"debian_mirror {values['debian_mirror']!r} (no path "
                                      "segment 'debian'); set debian_security_mirror or "
                                      "SAGEPACK_DEBIAN_SECURITY_MIRROR"))
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
        execution_role_arn=values["execution_role_arn"],
        tag_mutability=tag_mutability,
        source_date_epoch=source_date_epoch,
        wheelhouse_dir=wheelhouse.expanduser(),
        debian_mirror=values["debian_mirror"],
        debian_security_mirror=security_mirror or DEFAULT_DEBIAN_SECURITY_MIRROR,
        create_model_package=bool(create_package),
        max_archive_bytes=max_bytes or 50 * 1024**3,
        max_archive_members=max_members or 100_000,
        source_url=source_url or "",
        supply=supply,
        indexes=indexes,
        credentials=credentials,
    )


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
