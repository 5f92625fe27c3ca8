"""One worker's models on a multi-model endpoint: load, publish, list, unload.

A model is the directory the platform extracted its archive to (the ``url`` of ``POST
/models``), with its own handler in ``code/inference.py`` (or ``SAGEMAKER_PROGRAM``), in
the same convention as a single-model image. Each handler is imported under a module name
of its own (``sagepack_model_<n>_<name>``), so two archives' ``inference.py`` never meet
in ``sys.modules``; unloading removes it, with the modules imported from the model's
``code/`` folder, and takes the folder off ``sys.path``. Helper modules of two archives
with the same name (``code/utils.py`` in both) still share one entry of ``sys.modules``:
the first loaded wins; give them distinct names.

Loading happens in two steps, driven by the supervisor (see :mod:`.coordinator`):
:meth:`Registry.load` stages the model (not visible yet), :meth:`Registry.publish` makes
it visible to requests once every worker has loaded it; :meth:`Registry.discard` drops a
staged or published model. Dropping a model frees it: the references go, then
:func:`collect` runs the garbage collector and has glibc give the freed heap back. A request still
running with the model keeps it alive until it ends.
"""

from __future__ import annotations

import base64
import binascii
import gc
import itertools
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagepack.serving import memory
from sagepack.serving.handler import Handler

_UNSAFE = re.compile(r"\W")
_MAX_NAME = 256


@dataclass
class LoadedModel:
    """One model of this worker."""

    name: str
    url: str
    handler: Handler
    model: Any
    module_name: str
    code_dir: str
    #: Set when published, by the supervisor: the same in every worker.
    loaded_at: str = ""
    memory_bytes: int = 0
    #: ``url`` as a path, made once: every invocation hands it to the handler's context.
    model_dir: Path = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.model_dir = Path(self.url)

    def listed(self) -> dict[str, object]:
        """The entry of ``GET /models``."""
        return {"modelName": self.name, "modelUrl": self.url}

    def describe(self) -> dict[str, object]:
        """The body of ``GET /models/<name>``."""
        return {"modelName": self.name, "modelUrl": self.url,
                "handler": str(self.handler.path), "loadedAt": self.loaded_at,
                "memoryBytes": self.memory_bytes}


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a model's name, or None if it can."""
    if not isinstance(name, str) or not name:
        return "model_name must be a non-empty string"
    if len(name) > _MAX_NAME:
        return f"model_name must be at most {_MAX_NAME} characters, got {len(name)}"
    if "/" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"model_name {name!r} must not contain '/' or control characters"
    return None


def encode_token(name: str) -> str:
    """The ``nextPageToken`` after model ``name``."""
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    """The model name a page token continues after; ValueError if it is not ours."""
    try:
        return base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_",
                                validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"next_page_token {token!r} was not given by GET /models") from exc


class Registry:
    """The models of one worker."""

    def __init__(self, program: str, gpu_id: int | None = None) -> None:
        self.program = program if program.endswith(".py") else program + ".py"
        self.gpu_id = gpu_id
        self._published: dict[str, LoadedModel] = {}
        self._staged: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()
        self._serial = itertools.count(1)
        self._paths: dict[str, int] = {}  # code folder -> models using it

    def handler_path(self, url: str) -> Path:
        return Path(url) / "code" / self.program

    # --- reading (event loop) -----------------------------------------------------------

    def get(self, name: str) -> LoadedModel | None:
        """The published model ``name``."""
        return self._published.get(name)

    def names(self) -> list[str]:
        return sorted(self._published)

    def page(self, token: str | None, max_results: int) -> tuple[list[LoadedModel], str | None]:
        """Published models in name order after ``token``, and the token of the next page."""
        after = decode_token(token) if token else None
        with self._lock:
            names = sorted(n for n in self._published if after is None or n > after)
            chosen = [self._published[n] for n in names[:max_results]]
        more = len(names) > max_results
        return chosen, encode_token(chosen[-1].name) if more and chosen else None

    # --- changes ------------------------------------------------------------------------

    def load(self, name: str, url: str) -> LoadedModel:
        """Import the model's handler and call its ``model_fn`` (blocking); the model is
        staged, not visible. Raises what the handler raised; nothing stays behind."""
        serial = next(self._serial)
        module_name = f"sagepack_model_{serial}_{_UNSAFE.sub('_', name)[:40]}"
        path = self.handler_path(url)
        code_dir = str(path.parent)
        self._use_path(code_dir)
        before = set(sys.modules)
        try:
            handler = Handler.load(path, module_name)
            model = handler.load_model(Path(url), self.gpu_id)
        except BaseException:
            self._forget_modules(module_name, code_dir, before)
            self._release_path(code_dir)
            raise
        entry = LoadedModel(name, url, handler, model, module_name, code_dir)
        with self._lock:
            self._staged[name] = entry
        return entry

    def publish(self, name: str, loaded_at: str, memory_bytes: int) -> bool:
        """Make the staged model ``name`` visible; False if there is none."""
        with self._lock:
            entry = self._staged.pop(name, None)
            if entry is None:
                return False
            entry.loaded_at, entry.memory_bytes = loaded_at, memory_bytes
            self._published[name] = entry
        return True

    def hide(self, name: str) -> LoadedModel | None:
        """Take model ``name`` (staged or published) away from requests; free it with
        :meth:`free` (off the event loop)."""
        with self._lock:
            return self._published.pop(name, None) or self._staged.pop(name, None)

    def discard(self, name: str) -> bool:
        """Hide, release and collect model ``name``; False if there was none."""
        entry = self.hide(name)
        if entry is None:
            return False
        self.release(entry)
        del entry
        collect()
        return True

    def release(self, entry: LoadedModel) -> None:
        """Drop what this registry holds of ``entry``'s model: its handler's modules, its
        folder on ``sys.path``, the model object. Drop ``entry`` too, then :func:`collect`."""
        self._forget_modules(entry.module_name, entry.code_dir, None)
        self._release_path(entry.code_dir)
        entry.model = None

    # --- sys.path and sys.modules ---------------------------------------------------------

    def _use_path(self, code_dir: str) -> None:
        with self._lock:
            self._paths[code_dir] = self._paths.get(code_dir, 0) + 1
            if code_dir not in sys.path:
                sys.path.insert(0, code_dir)

    def _release_path(self, code_dir: str) -> None:
        with self._lock:
            left = self._paths.get(code_dir, 1) - 1
            if left > 0:
                self._paths[code_dir] = left
                return
            self._paths.pop(code_dir, None)
            while code_dir in sys.path:
                sys.path.remove(code_dir)

    def _forget_modules(self, module_name: str, code_dir: str, before: set[str] | None) -> None:
        """Remove the handler's module and, unless another model uses the same folder, the
        modules imported from it (``before``: the modules there were before a failed load)."""
        sys.modules.pop(module_name, None)
        with self._lock:
            shared = self._paths.get(code_dir, 0) > 1
        if shared:
            return
        prefix = code_dir.rstrip("/") + "/"
        for key, module in list(sys.modules.items()):
            if before is not None and key in before:
                continue
            origin = getattr(module, "__file__", None)
            if isinstance(origin, str) and origin.startswith(prefix):
                sys.modules.pop(key, None)


def collect() -> None:
    """Collect garbage (a handler's functions and module form cycles) and give the freed
    heap back to the system; call it once the last reference to a model is gone."""
    gc.collect()
    memory.trim()
