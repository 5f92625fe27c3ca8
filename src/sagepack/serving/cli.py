"""``serve``: the command SageMaker runs in the image (``docker run IMAGE serve``).

``serve`` takes its settings from the environment (see :mod:`.parameters`). ``serve
--check`` loads the handler and the model once, the way a worker does, prints what went
wrong if anything did, and exits 0 only if the model loaded: image builds run it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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
    app = ServingApp(settings)
    app.load()
    app.pool.shutdown()
    if app.state != READY:
        sys.stderr.write(f"serve --check: {app.failure}\n")
        return 1
    sys.stdout.write(f"serve --check: {settings.handler_path} loaded the model in "
                     f"{settings.model_dir}\n")
    return 0
