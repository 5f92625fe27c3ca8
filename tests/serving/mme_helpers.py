"""Helpers of the multi-model tests: archives under a models folder, a multi-model server,
the calls of SageMaker's model-management API, and the memory of the server's processes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from serving_processes import Server, start

from sagepack.serving import memory

# predict_fn answers which worker served it and the data times FACTOR.
SCALER = """
import os
import numpy as np

FACTOR = {factor}

def model_fn(model_dir):
    return {{"factor": FACTOR, "dir": model_dir}}

def predict_fn(data, model):
    return {{"pid": os.getpid(), "value": (np.asarray(data) * model["factor"]).tolist(),
             "dir": model["dir"]}}
"""

SLOW = """
import time

def model_fn(model_dir):
    time.sleep({seconds})
    return lambda data: data
"""

FAILS = """
def model_fn(model_dir):
    raise RuntimeError("the weights are corrupt (marker c0ffee)")
"""

# Holds MIB mebibytes, every page written, while loaded.
BIG = """
import numpy as np

def model_fn(model_dir):
    return {{"weights": np.ones({mib} << 20, dtype=np.uint8)}}

def predict_fn(data, model):
    return int(model["weights"][:10].sum())
"""

STREAMS = """
def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    def chunks():
        for index in range(3):
            yield f"chunk {index}\\n"
    return chunks(), "text/plain"
"""


def archive(server_root: Path, name: str, source: str, **values: object) -> str:
    """``<models>/<name>/model`` with ``code/inference.py``; returns the url to load."""
    folder = server_root / "models" / name / "model"
    (folder / "code").mkdir(parents=True, exist_ok=True)
    (folder / "code" / "inference.py").write_text(textwrap.dedent(source.format(**values)
                                                                  if values else source))
    return str(folder)


def start_mme(tmp_path: Path, workers: int = 2, **env: str) -> Server:
    """A multi-model server over ``tmp_path/models``."""
    (tmp_path / "models").mkdir(exist_ok=True)
    environment = {"SAGEPACK_MULTI_MODEL": "true", "SAGEPACK_MODELS_DIR": str(tmp_path / "models"),
                   **env}
    server = start(tmp_path, tmp_path / "no-model-here", workers=workers, **environment)
    server.wait_ready()
    return server


def load(server: Server, name: str, url: str, timeout: float = 60) -> tuple[int, dict[str, Any]]:
    status, body, _ = server.call("POST", "/models", json.dumps({"model_name": name, "url": url})
                                  .encode(), {"Content-Type": "application/json"}, timeout=timeout)
    return status, json.loads(body)


def invoke(server: Server, name: str, data: object,
           target: str = "") -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if target:
        headers["X-Amzn-SageMaker-Target-Model"] = target
    status, body, _ = server.call("POST", f"/models/{name}/invoke", json.dumps(data).encode(),
                                  headers)
    return status, json.loads(body) if body else None


def get_json(server: Server, path: str, method: str = "GET") -> tuple[int, Any]:
    status, body, _ = server.call(method, path)
    return status, json.loads(body) if body else None


def worker_pids(server: Server) -> list[int]:
    """The server's workers: the processes whose parent is the supervisor."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.process.pid and fields[0] not in {"Z", "X"}:
            found.append(int(entry.name))
    return sorted(found)


def resident(server: Server) -> int:
    """Resident bytes of the supervisor and its workers together (``statm``)."""
    return sum(memory.resident(pid) for pid in [server.process.pid, *worker_pids(server)])
