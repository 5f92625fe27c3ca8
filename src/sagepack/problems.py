"""Reading settings while collecting every problem, so that all of them are reported at once.

A :class:`Reader` reads one mapping that came from one place (a TOML table of a file, the
environment) and appends a :class:`~sagepack.errors.ConfigProblem` naming that place, the
key and what was expected for each bad value, returning the default instead of raising.
Two families of getters:

- typed values, as TOML gives them: :meth:`Reader.get`, :meth:`~Reader.strings`,
  :meth:`~Reader.choice`, :meth:`~Reader.table`, :meth:`~Reader.path`,
  :meth:`~Reader.string_map`, and :meth:`~Reader.finish` for unknown keys;
- text values, as the environment gives them (blank means "not set"): :meth:`~Reader.text`,
  :meth:`~Reader.integer`, :meth:`~Reader.number`, :meth:`~Reader.boolean`,
  :meth:`~Reader.text_choice`.

The caller raises once, with :meth:`Reader.raise_if_problems` or
``ConfigError(problems)``. Standard library only: this module ships inside inference
images with the serving runtime.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sagepack.errors import ConfigError, ConfigProblem

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "Reader"]

T = TypeVar("T")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class Reader:
    """Reads ``data`` (from ``file``, its keys shown as ``prefix + key``) into ``problems``.

    ``problems`` may be shared by several readers (one per table of a file, say) so that
    one error reports them all; it is a fresh list when not given.
    """

    def __init__(self, data: Mapping[str, Any], file: Path, prefix: str = "",
                 problems: list[ConfigProblem] | None = None) -> None:
        self.data = data
        self.file = file
        self.prefix = prefix
        self.problems: list[ConfigProblem] = [] if problems is None else problems
        self.seen: set[str] = set()

    # --- problems ---------------------------------------------------------------------

    def key(self, name: str) -> str:
        """How ``name`` is shown in a problem: with this reader's prefix."""
        return f"{self.prefix}{name}"

    def problem(self, name: str, message: str) -> None:
        """Record that ``name`` is wrong, and how."""
        self.problems.append(ConfigProblem(self.file, self.key(name), message))

    def raise_if_problems(self) -> None:
        """Raise every problem recorded so far as one :class:`ConfigError`."""
        if self.problems:
            raise ConfigError(self.problems)

    def finish(self) -> None:
        """Record every key no getter asked for as an unknown key."""
        for unknown in sorted(set(self.data) - self.seen):
            self.problem(unknown, "unknown key")

    # --- typed values (TOML) ------------------------------------------------------------

    def get(self, name: str, kind: type[T], default: T | None = None, *,
            required: bool = False, label: str = "") -> T | None:
        """``data[name]`` if it is a ``kind`` (a bool is not an int), else ``default``."""
        self.seen.add(name)
        if name not in self.data:
            if required:
                self.problem(name, f"required {label or kind.__name__} is missing")
            return default
        value = self.data[name]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.problem(name, f"expected {label or kind.__name__}, got "
                               f"{type(value).__name__} {value!r}")
            return default
        return value  # type: ignore[no-any-return]

    def strings(self, name: str, default: tuple[str, ...] = (), *,
                required: bool = False) -> tuple[str, ...]:
        """A list of strings, as a tuple."""
        value = self.get(name, list, None, required=required, label="list of strings")
        if value is None:
            return default
        if not all(isinstance(v, str) for v in value):
            self.problem(name, f"expected list of strings, got {value!r}")
            return default
        return tuple(value)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """A string that must be one of ``choices`` exactly."""
        value = self.get(name, str, default)
        assert value is not None
        if value not in choices:
            self.problem(name, f"expected one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def table(self, name: str) -> Reader | None:
        """A reader of the sub-table ``name`` (same file and problems), or ``None``."""
        value = self.get(name, dict, None, label="table")
        if value is None:
            return None
        return Reader(value, self.file, f"{self.key(name)}.", self.problems)

    def path(self, name: str, root: Path, *, required: bool = True,
             must_exist: bool = True) -> Path | None:
        """A path relative to ``root``, resolved; it must exist when ``must_exist``."""
        value = self.get(name, str, None, required=required, label="path (string)")
        if value is None:
            return None
        resolved = (root / value).resolve()
        if must_exist and not resolved.exists():
            self.problem(name, f"path does not exist: {resolved}")
        return resolved

    def string_map(self, name: str) -> dict[str, str]:
        """A table of strings; other values are problems and left out."""
        sub = self.get(name, dict, None, label="table of strings")
        if sub is None:
            return {}
        for k, v in sub.items():
            if not isinstance(v, str):
                self.problems.append(ConfigProblem(self.file, f"{self.key(name)}.{k}",
                                                   f"expected string, got {v!r}"))
        return {k: v for k, v in sub.items() if isinstance(v, str)}

    # --- text values (environment variables) --------------------------------------------

    def text(self, name: str) -> str | None:
        """``data[name]`` stripped, or ``None`` when it is missing or blank."""
        self.seen.add(name)
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(name, f"expected text, got {type(value).__name__} {value!r}")
            return None
        return value.strip() or None

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        """A whole number from ``low`` to ``high``."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problem(name, f"must be a whole number, got {raw!r}")
            return default
        if not low <= value <= high:
            self.problem(name, f"must be between {low} and {high}, got {value}")
            return default
        return value

    def number(self, name: str, default: float, *, low: float,
               kind: str = "a number") -> float:
        """A finite number ``>= low``; ``kind`` names it in problems ("a number of seconds")."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problem(name, f"must be {kind}, got {raw!r}")
            return default
        if not value >= low or math.isinf(value):
            self.problem(name, f"must be a finite number >= {low}, got {raw!r}")
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        """``1/true/yes/on`` or ``0/false/no/off`` (any case); set but blank is false."""
        self.seen.add(name)
        raw = self.data.get(name)
        if raw is None:
            return default
        value = str(raw).strip().lower()
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        self.problem(name, f"must be true or false, got {raw!r}")
        return default

    def text_choice(self, name: str, choices: tuple[str, ...], default: str, *,
                    canonical: Callable[[str], str] = str.strip) -> str:
        """One of ``choices`` after ``canonical`` (say, upper-casing and aliases)."""
        raw = self.text(name)
        if raw is None:
            return default
        value = canonical(raw)
        if value not in choices:
            allowed = (" or ".join(choices) if len(choices) == 2
                       else "one of " + ", ".join(choices))
            self.problem(name, f"must be {allowed}, got {raw!r}")
            return default
        return value
