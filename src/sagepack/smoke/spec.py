"""What one run of the image test suite is about, handed to the pytest process as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from sagepack.files import write_json

SERVICE_MAIN = "model"
SERVICE_PORT = "model-port"
SERVICE_SIGTERM = "model-sigterm"
SERVICE_BATCH = "model-batch"
MOVED_PORT = 9090


@dataclass(frozen=True)
class RunSpec:
    root: str  # the project (where pyproject.toml is)
    model: str
    variant: str
    image: str
    no_network: bool
    gpu: bool
    model_dir: str | None
    compose_file: str
    project: str  # compose project name
    run_id: str
    deadline_s: float
    compose_command: tuple[str, ...]  # argv of Compose: ("/usr/bin/docker", "compose"), ...
    models_dir: str | None = None  # multi-model images: the test models, at /opt/ml/models
    record_dir: str | None = None  # --record: where the sample checks leave the answers
    record_all: bool = False  # --record --force: every sample's answer, not only the new
    platform: str = "linux/amd64"  # the variant's
    emulated: bool = False  # the image's code runs under emulation on this machine

    def write(self, path: Path) -> Path:
        write_json(path, asdict(self))
        return path

    @classmethod
    def read(cls, path: Path) -> RunSpec:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["compose_command"] = tuple(data["compose_command"])
        return cls(**data)
