"""The serving runtime: what ``serve`` starts inside every inference image.

It keeps SageMaker's contract (``GET /ping``, ``POST /invocations``, ``GET
/execution-parameters`` on ``SAGEMAKER_BIND_TO_PORT``) with the handler convention of AWS's
framework containers (``code/inference.py`` with ``model_fn`` / ``input_fn`` /
``predict_fn`` / ``output_fn`` or ``transform_fn``).

It runs inside images with only the standard library, uvicorn, httptools, uvloop and numpy,
plus ``sagepack/__init__.py`` and ``sagepack/errors.py``: modules here import nothing else.

Modules: :mod:`.parameters` (every environment variable, route, header and media type),
:mod:`.settings` (the environment, read once), :mod:`.handler` (the convention),
:mod:`.codecs` (default codecs, Accept negotiation), :mod:`.context` (what handlers see of
a request), :mod:`.pool` (inference threads), :mod:`.body` (body limits, draining),
:mod:`.loading` (load-time warnings), :mod:`.app` (the ASGI app), :mod:`.streaming`
(responses sent chunk by chunk), :mod:`.devices` (GPUs counted without CUDA, ``gpu_id`` per
worker), :mod:`.readiness` (when the server accepts, and a failed load), :mod:`.server`
(the supervisor), :mod:`.worker` (a worker process), :mod:`.replies` (bodies and JSON
errors), :mod:`.cli` (``serve``).

Multi-model endpoints (``SAGEPACK_MULTI_MODEL=true``): :mod:`.models_api` (the ``/models``
routes), :mod:`.multimodel` (one worker's models, each handler isolated),
:mod:`.coordinator` (the supervisor loads and unloads on every worker at once),
:mod:`.memory` (the container's limit, the workers' memory, giving it back).
"""
