"""What loading the model said: the warnings ``model_fn`` (and the handler's import) raised.

A warning at load time is often the only hint of a problem to come, for example
scikit-learn's ``InconsistentVersionWarning`` when the pickle was made with another version
than the image has. Loading records them under filters of its own, so the outcome does not
depend on the process's filters (``-W error`` or pytest's would turn them into failures):
every warning is recorded once per place it comes from, except deprecation, import and
resource warnings raised by library code (Python's default filters). Filters the handler
sets itself still win. ``serve --check`` prints them (see :mod:`.cli`); the server logs them
once, from the supervisor (see :mod:`.readiness`).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass

_QUIET = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
_MAX_MESSAGE = 2000
_MAX_WARNINGS = 50


@dataclass(frozen=True)
class LoadWarning:
    """One warning raised while the handler and the model loaded."""

    category: str
    message: str
    filename: str
    lineno: int

    def __str__(self) -> str:
        return f"{self.category}: {self.message} ({self.filename}:{self.lineno})"

    def to_json(self) -> dict[str, object]:
        """``{"category": ..., "message": ..., "filename": ..., "lineno": ...}``."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> LoadWarning:
        lineno = data.get("lineno", 0)
        return cls(str(data.get("category", "")), str(data.get("message", "")),
                   str(data.get("filename", "")), lineno if isinstance(lineno, int) else 0)


def _category(cls: type[Warning]) -> str:
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


@contextlib.contextmanager
def capture_warnings(handler_module: str = "") -> Iterator[list[LoadWarning]]:
    """Record the warnings raised inside the block; the list is filled when it ends.

    Deprecation warnings raised by ``handler_module`` itself are recorded too (as Python
    does for ``__main__``). Not thread-safe, like :func:`warnings.catch_warnings`: nothing
    else may run Python code that warns meanwhile (a worker loads before it serves).
    """
    found: list[LoadWarning] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for quiet in _QUIET:
            warnings.filterwarnings("ignore", category=quiet)
        if handler_module:
            warnings.filterwarnings("default", category=DeprecationWarning,
                                    module=re.escape(handler_module))
        try:
            yield found
        finally:
            seen: set[LoadWarning] = set()
            for record in caught:
                item = LoadWarning(_category(record.category), str(record.message)[:_MAX_MESSAGE],
                                   str(record.filename), int(record.lineno or 0))
                if item not in seen and len(found) < _MAX_WARNINGS:
                    seen.add(item)
                    found.append(item)
