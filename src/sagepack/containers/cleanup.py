"""Run ids, and removing what a run created: every container and network sagepack starts
carries the label :data:`sagepack.labels.RUN` with its run's id, so whatever an interrupted
run left behind is found and removed by that id."""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from docker.errors import APIError, NotFound

from sagepack.labels import RUN


def new_run_id() -> str:
    return secrets.token_hex(5)


def remove_run(client: Any, run_id: str) -> list[str]:
    """Remove every container and network labelled with ``run_id``; returns what went."""
    return remove_labelled(client, f"{RUN}={run_id}")


def remove_labelled(client: Any, label: str, *,
                    gone: tuple[type[Exception], ...] = (NotFound,)) -> list[str]:
    """Remove every container, then every network, matching the ``label`` filter
    (``key=value``); returns what went. ``gone``: the engine's answers that mean "already
    removed or being removed" (Compose's own ``down`` may race us: :class:`APIError`)."""
    removed: list[str] = []
    selector = {"label": label}
    for container in client.containers.list(all=True, filters=selector):
        with contextlib.suppress(*gone):
            container.remove(force=True, v=True)
            removed.append(f"container {container.name}")
    for network in client.networks.list(filters=selector):
        with contextlib.suppress(*gone):
            network.reload()
            for attached in network.containers:
                with contextlib.suppress(NotFound, APIError):
                    network.disconnect(attached, force=True)
            network.remove()
            removed.append(f"network {network.name}")
    return removed

