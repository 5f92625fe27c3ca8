"""``serve``: the command SageMaker runs in the image (``docker run IMAGE serve``).

``serve`` takes its settings from the environment (see :mod:`.parameters`). ``serve
--check`` loads the handler and the model once, the way a worker does, prints what went
wrong if anything did, and exits 0 only if the model loaded: image builds run it.

What ``--check`` writes:

* on stderr, for people: one line per warning raised while loading (``serve --check:
  warning: <category>: <message> (<file>:<line>)``), then the failure and its traceback
  if the model did not load;
* on stdout, for programs, always as the **last line** (logs and the handler's own output
  come before it): one JSON object ::

    {"loaded": true, "error": null,
     "warnings": [{"category": "sklearn.exceptions.InconsistentVersionWarning",
                   "message": "...", "filename": "/opt/ml/model/code/inference.py",
                   "lineno": 12}]}

  ``error`` is the failure's message when ``loaded`` is false. ``category`` is the
  warning class, qualified by its module unless it is a builtin (``UserWarning``).
  :func:`check_result` reads it back.

Exit codes: 0 loaded, 1 not loaded, 2 bad environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from sagepack.errors import ConfigError
from sagepack.serving.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``serve`` and ``python -m sagepack.serving``."""
    parser = argparse.ArgumentParser(
        prog="serve", description="Serve the model in SAGEPACK_MODEL_DIR (default /opt/ml/model) "
                                  "on SAGEMAKER_BIND_TO_PORT (default 8080).")
    parser.add_argument("--check", action="store_true",
                        help="load the handler and the model once, report, and exit")
    # SageMaker starts the container as `serve`; an image whose ENTRYPOINT is `serve` gets
    # the word again as its argument: accept it.
    parser.add_argument("command", nargs="?", choices=["serve"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_environ()
    except ConfigError as exc:
        sys.stderr.write(f"serve: {exc}\n")
        return 2
    if args.check:
        return _check(settings)
    from sagepack.serving.server import serve

    return serve(settings)


def _check(settings: Settings) -> int:
    from sagepack.serving.app import READY, ServingApp
    from sagepack.serving.logs import setup_logging

    setup_logging(settings.log_level)
    app = ServingApp(settings, log_load=False, gpu_id=settings.gpu_id(0))
    app.load()
    app.pool.shutdown()
    for warning in app.warnings:
        sys.stderr.write(f"serve --check: warning: {warning}\n")
    loaded = app.state == READY
    if loaded and settings.multi_model:
        sys.stdout.write("serve --check: a multi-model endpoint loads no model at start; "
                         "each archive brings its own handler\n")
    elif loaded:
        sys.stdout.write(f"serve --check: {settings.handler_path} loaded the model in "
                         f"{settings.model_dir}\n")
    else:
        sys.stderr.write(f"serve --check: {app.failure}\n{app.failure_detail}")
    result = {"loaded": loaded, "error": None if loaded else app.failure,
              "warnings": [warning.to_json() for warning in app.warnings]}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if loaded else 1


def check_result(stdout: str) -> dict[str, Any]:
    """The JSON object on the last line of ``serve --check``'s stdout.

    Raises ValueError if the last line is not that object.
    """
    lines = stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else None
    if not isinstance(result, dict) or not {"loaded", "error", "warnings"} <= result.keys():
        raise ValueError(f"serve --check did not end with its JSON result: {lines[-1:]!r}")
    return result
