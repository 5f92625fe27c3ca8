"""Fixtures of the serving tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from serving_helpers import DOUBLER, write_model

from sagepack.serving.app import ServingApp
from sagepack.serving.settings import Settings


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., ServingApp]]:
    """``make_app(source, load=True, **settings)``: a ServingApp over a handler in tmp_path."""
    apps: list[ServingApp] = []

    def build(source: str = DOUBLER, load: bool = True, files: Mapping[str, str] | None = None,
              **overrides: Any) -> ServingApp:
        root = write_model(tmp_path / f"model{len(apps)}", source, files=files)
        settings = replace(Settings(), model_dir=root, handler_dir=root / "code", **overrides)
        app = ServingApp(settings)
        apps.append(app)
        if load:
            app.load()
        return app

    yield build
    for app in apps:
        app.pool.shutdown()
