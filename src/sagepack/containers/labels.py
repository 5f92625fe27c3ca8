"""What a built image says about itself through its labels (keys: :mod:`sagepack.labels`)."""

from __future__ import annotations

from collections.abc import Mapping

from sagepack.config import ARTIFACT_MODES
from sagepack.labels import ARTIFACT_MODE


def artifact_mode(labels: Mapping[str, str] | None, default: str) -> str:
    """``baked`` or ``dynamic`` as the image's ``sagepack.artifact-mode`` label says (the
    key the build writes), else ``default``."""
    value = (labels or {}).get(ARTIFACT_MODE)
    return value if value in ARTIFACT_MODES else default
