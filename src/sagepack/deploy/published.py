"""What ``invoke publish`` recorded for one model variant, read from ``publish.json``.

Deploying runs exactly what was published: the image by digest and the archive's S3 URI
(or, with uncompressed model data, the S3 prefix of the files). A record of another
version or region, one without this variant, or one whose model data is not of the kind
``sagepack.toml`` names, is refused with the command that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sagepack.config import COMPRESSED, UNCOMPRESSED, ModelConfig, Settings, Variant
from sagepack.errors import DeployError, PublishError
from sagepack.images.tags import version_tag
from sagepack.publish.plan import REPORT_NAME
from sagepack.publish.report import read_record


@dataclass(frozen=True)
class Release:
    """One published variant: the image to run and the model data it loads."""

    model: str
    version: str
    variant: str
    region: str
    image: str  # <registry>/<repository>@sha256:...
    image_id: str  # the local image id (the image's config digest)
    model_data_url: str  # s3://.../model.tar.gz, or the files' prefix s3://.../model/
    model_data_sha256: str  # of the archive, or of the files' listing
    record: Path
    model_data: str = COMPRESSED  # or UNCOMPRESSED


def _model_data(record: dict[str, object], model: ModelConfig,
                problems: list[str]) -> tuple[str, str] | None:
    """The published model data's URI and sha256, of the kind the model's config names."""
    if model.model_data == UNCOMPRESSED:
        data = record.get("model_data")
        uri = str(data.get("s3_uri", "")) if isinstance(data, dict) else ""
        if not isinstance(data, dict) or data.get("type") != UNCOMPRESSED or \
                not uri.startswith("s3://") or not uri.endswith("/"):
            problems.append(f"it has no S3 prefix of uncompressed model data, but "
                            f"{model.config_file} says model_data = 'uncompressed'")
            return None
        return uri, str(data.get("sha256", ""))
    archive = record.get("archive")
    if not isinstance(archive, dict) or not str(archive.get("s3_uri", "")).startswith("s3://"):
        problems.append("it has no archive S3 URI" + (
            f" (its model data is uncompressed, but {model.config_file} does not say "
            "model_data = 'uncompressed')" if record.get("model_data") else ""))
        return None
    return str(archive["s3_uri"]), str(archive.get("sha256", ""))


def read_release(settings: Settings, model: ModelConfig, variant: Variant) -> Release:
    """The published image and archive of ``model``'s ``variant``, from ``publish.json``."""
    path = settings.project.dist_for(model.name) / REPORT_NAME
    again = f"invoke publish --model {model.name} --variant {variant.name}"
    try:
        record = read_record(path)
    except PublishError as exc:
        raise DeployError(str(exc)) from exc
    problems = []
    if record.get("version") != model.version:
        problems.append(f"it is for version {record.get('version')!r}, but {model.config_file} "
                        f"says {model.version!r}")
    if record.get("region") != settings.project.region:
        problems.append(f"it is for region {record.get('region')!r}, not the configured "
                        f"{settings.project.region!r}")
    tag = version_tag(model, variant)
    image = next((i for i in record.get("images", []) if isinstance(i, dict)
                  and i.get("variant") == variant.name and i.get("tag") == tag), None)
    if image is None or not str(image.get("reference", "")).count("@sha256:"):
        problems.append(f"it has no image of variant {variant.name} with tag {tag} "
                        "(by digest)")
    data = _model_data(record, model, problems)
    if problems or image is None or data is None:
        raise DeployError(f"{path}: " + "; ".join(problems) + f"; run: {again}")
    return Release(model=model.name, version=model.version, variant=variant.name,
                   region=str(record["region"]), image=str(image["reference"]),
                   image_id=str(image.get("image_id", "")), model_data_url=data[0],
                   model_data_sha256=data[1], record=path, model_data=model.model_data)
