"""The servers the serving benchmark runs: sagepack and its baselines, on 127.0.0.1.

Every server serves the same model folder through the same handler code, with its own
default logging, its output going to a log file:

* ``sagepack``: ``python -m sagepack.serving``, forked workers, uvicorn + uvloop +
  httptools, a lean ASGI app, inference on a thread per worker, access log on (its default);
* ``uvicorn_starlette``: the handler in a Starlette app under ``uvicorn --workers N``
  (uvloop and httptools, as uvicorn picks when installed; uvicorn's access log on, its
  default);
* ``gunicorn_flask``: AWS's bring-your-own recipe, a Flask app under ``gunicorn -k sync
  -w N`` (without the nginx in front; gunicorn's default: no access log);
* ``flask_dev``: Flask's development server, one threaded process (the seed's naive recipe;
  it logs every request to stderr).

The workers count is the same for the first three; Flask's development server has none.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from sagepack.bench.apps.common import MODEL_DIR_VARIABLE
from sagepack.errors import SagepackError
from sagepack.serving import parameters as p

SAGEPACK = "sagepack"
UVICORN_STARLETTE = "uvicorn_starlette"
GUNICORN_FLASK = "gunicorn_flask"
FLASK_DEV = "flask_dev"
BASELINES = (UVICORN_STARLETTE, GUNICORN_FLASK, FLASK_DEV)

LABELS = {SAGEPACK: "sagepack", UVICORN_STARLETTE: "uvicorn + Starlette",
          GUNICORN_FLASK: "gunicorn + Flask", FLASK_DEV: "Flask dev server"}
_NEEDS = {UVICORN_STARLETTE: ("uvicorn", "starlette"), GUNICORN_FLASK: ("gunicorn", "flask"),
          FLASK_DEV: ("flask",)}


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server: its command, environment and the port it will listen on."""

    name: str
    command: tuple[str, ...]
    env: dict[str, str]
    port: int
    workers: int

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)


def check_installed(names: tuple[str, ...] = BASELINES) -> None:
    """Fail, naming the modules, when one of the baselines ``names`` cannot run here."""
    missing = sorted({module for name in names for module in _NEEDS.get(name, ())
                      if importlib.util.find_spec(module) is None})
    if missing:
        raise SagepackError(f"the serving benchmark's baselines need {', '.join(missing)} "
                            "(pip install 'sagepack[dev]')")


def server(name: str, model_dir: Path, port: int, env: dict[str, str], *, workers: int,
           threads: int) -> ServerSpec:
    """The spec of server ``name`` on ``port``; ``env`` is the environment to start from."""
    app_env = {**env, MODEL_DIR_VARIABLE: str(model_dir)}
    python = sys.executable
    if name == SAGEPACK:
        return ServerSpec(name, (python, "-m", "sagepack.serving"), {
            **env, p.MODEL_DIR: str(model_dir), p.BIND_TO_PORT: str(port),
            p.HOST: "127.0.0.1", p.MODEL_SERVER_WORKERS: str(workers),
            p.THREADS: str(threads)}, port, workers)
    if name == UVICORN_STARLETTE:
        return ServerSpec(name, (python, "-m", "uvicorn", "sagepack.bench.apps.starlette_app:app",
                                 "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(workers)), app_env, port, workers)
    if name == GUNICORN_FLASK:
        return ServerSpec(name, (python, "-m", "gunicorn", "--worker-class", "sync",
                                 "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                                 "sagepack.bench.apps.flask_app:app"), app_env, port, workers)
    if name == FLASK_DEV:
        return ServerSpec(name, (python, "-m", "sagepack.bench.apps.flask_app", str(port)),
                          app_env, port, 1)
    raise SagepackError(f"unknown server {name!r}: choose from {SAGEPACK}, "
                        f"{', '.join(BASELINES)}")
