"""The naive recipe: Flask calling the handler in its view.

``gunicorn sagepack.bench.apps.flask_app:app`` serves it as AWS's bring-your-own example
does (sync workers); ``python -m sagepack.bench.apps.flask_app PORT`` runs it on Flask's
development server (one process, threaded, as ``app.run`` defaults).
"""

from __future__ import annotations

import sys

from flask import Flask, Response, request

from sagepack.bench.apps.common import LoadedModel

loaded = LoadedModel.from_environment()
app = Flask(__name__)


@app.route("/ping")
def ping() -> Response:
    return Response(status=200)


@app.route("/invocations", methods=["POST"])
def invocations() -> Response:
    body, result_type = loaded.invoke(request.get_data(), request.content_type,
                                      request.headers.get("Accept"), dict(request.headers))
    return Response(body, content_type=result_type)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
