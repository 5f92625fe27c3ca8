"""Helpers of the container runner's tests."""

from __future__ import annotations

from typing import Any

from sagepack.labels import RUN as RUN_LABEL


def leftovers(client: Any, run_id: str) -> list[str]:
    """Containers and networks still labelled with ``run_id``."""
    selector = {"label": f"{RUN_LABEL}={run_id}"}
    return ([c.name for c in client.containers.list(all=True, filters=selector)]
            + [n.name for n in client.networks.list(filters=selector)])
