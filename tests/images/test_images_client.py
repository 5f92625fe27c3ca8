"""Reaching the engine: a clear error when none answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagepack.errors import DockerUnavailable
from sagepack.images import docker_client


def test_no_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'absent.sock'}")
    with pytest.raises(DockerUnavailable, match="no Docker engine answers"):
        docker_client(timeout=5)
