"""Configuration: files -> frozen dataclasses, read once.

Two sources, one precedence (flag > environment > file > default):

- ``[tool.sagepack]`` in the project's ``pyproject.toml``: project-wide settings (region,
  ECR repository naming, S3 bucket and prefix, default base images, limits), in
  :mod:`sagepack.config.project`.
- ``artifacts/<name>/sagepack.toml``: one model (name, version, handler, variants, content
  types, instance types, samples, validation transform, packaging rules), in
  :mod:`sagepack.config.model`.

:func:`load` (:mod:`sagepack.config.settings`) reads both into :class:`Settings`. Every
problem found is collected (with :class:`sagepack.problems.Reader`) and reported at once in
a :class:`~sagepack.errors.ConfigError` whose lines name the file, the key and what was
expected. Nothing here runs inside an image, builds, or talks to Docker or AWS.
"""

from sagepack.config.deploy import DataCaptureSettings, DeploySettings, ServerlessSettings
from sagepack.config.model import (
    ARTIFACT_MODES,
    COMPRESSED,
    DEFAULT_EXCLUDES,
    IGNORE_FILE_NAME,
    MODEL_CONFIG_NAME,
    MODEL_DATA,
    SPLIT_TYPES,
    STRATEGIES,
    UNCOMPRESSED,
    ModelConfig,
    Sample,
    ValidationTransform,
    Variant,
    load_model,
)
from sagepack.config.project import (
    DEFAULT_BASE_IMAGE,
    DEFAULT_DEBIAN_MIRROR,
    DEFAULT_DEBIAN_SECURITY_MIRROR,
    ENV_OVERRIDES,
    ProjectConfig,
    apply_overrides,
)
from sagepack.config.settings import Settings, load, load_project_only

__all__ = [
    "ARTIFACT_MODES",
    "COMPRESSED",
    "DEFAULT_BASE_IMAGE",
    "DEFAULT_DEBIAN_MIRROR",
    "DEFAULT_DEBIAN_SECURITY_MIRROR",
    "DEFAULT_EXCLUDES",
    "ENV_OVERRIDES",
    "IGNORE_FILE_NAME",
    "MODEL_CONFIG_NAME",
    "MODEL_DATA",
    "SPLIT_TYPES",
    "STRATEGIES",
    "UNCOMPRESSED",
    "DataCaptureSettings",
    "DeploySettings",
    "ModelConfig",
    "ProjectConfig",
    "Sample",
    "ServerlessSettings",
    "Settings",
    "ValidationTransform",
    "Variant",
    "apply_overrides",
    "load",
    "load_model",
    "load_project_only",
]
