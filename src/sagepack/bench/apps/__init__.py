"""The serving benchmark's baselines: the same handler behind other servers.

Each module here is an application a baseline server imports (``flask_app`` for Flask's
development server and for gunicorn, ``starlette_app`` for uvicorn). They read the model
folder from ``SAGEPACK_BENCH_MODEL_DIR`` when imported, as a server's app module must, and
call the handler exactly as sagepack does (:mod:`.common`). Nothing in sagepack imports them;
they need the dev extra (Flask, Starlette, gunicorn).
"""
