"""What an image says about itself through its labels."""

from __future__ import annotations

from collections.abc import Mapping

from sagepack.config import ARTIFACT_MODES
from sagepack.labels import BIND_TO_PORT

# Label keys an image may use to say whether the model is inside it ("baked") or expected
# at /opt/ml/model ("dynamic").
_ARTIFACT_MODE_SUFFIXES = ("artifact-mode", "artifact_mode", "artifacts")


def artifact_mode(labels: Mapping[str, str] | None, default: str) -> str:
    """``baked`` or ``dynamic`` as the image's labels say, else ``default``."""
    for key, value in (labels or {}).items():
        if key.lower().endswith(_ARTIFACT_MODE_SUFFIXES) and value in ARTIFACT_MODES:
            return value
    return default


def accepts_bind_to_port(labels: Mapping[str, str] | None) -> bool:
    return (labels or {}).get(BIND_TO_PORT, "").lower() == "true"
