"""The serving benchmarks' baselines: the same handler behind other servers.

``flask_app`` (for Flask's development server and for gunicorn) and ``starlette_app`` (for
uvicorn) are applications a baseline server imports. They read the model folder from
``SAGEPACK_BENCH_MODEL_DIR`` when imported, as a server's app module must, and call the
handler exactly as sagepack does (:mod:`.common`); they need the dev extra (Flask,
Starlette, gunicorn). ``ticker`` is no application but the streaming benchmark's handler,
which every server serves. Nothing in sagepack's runtime imports them.
"""
