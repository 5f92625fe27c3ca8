"""Package indexes (PEP 503 simple indexes) that locks and wheelhouses resolve against, and
their credentials.

In ``[tool.sagepack]`` (every model) and in a variant of ``sagepack.toml`` (that variant
only, searched first)::

    [[tool.sagepack.index]]              # or [[variants.cpu.index]]
    name = "company"                     # letters, digits, '-' or '_'
    url = "https://pkgs.example.com/simple"
    default = true                       # replaces PyPI; otherwise searched before PyPI

A URL never holds credentials (the files are committed). They come, for an index named
``company``, from ``SAGEPACK_INDEX_COMPANY_USERNAME`` and ``SAGEPACK_INDEX_COMPANY_PASSWORD``,
else from the netrc entry of the URL's host (``$NETRC``, else ``~/.netrc``). They are handed
to uv and pip through their environment only (never an argument, so never in a process
list), are not written into locks (uv emits no index URL), never reach an image (the build
installs from the wheelhouse, offline), and :meth:`IndexSet.redact` takes them out of every
message that quotes a tool's output.
"""

from __future__ import annotations

import netrc
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from sagepack.problems import Reader

ENV_PREFIX = "SAGEPACK_INDEX_"
REDACTED = "****"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")
#: What uv and pip would otherwise take from the caller's environment for the same thing.
_REPLACED = ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX",
             "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST")


def env_name(index: str, what: str) -> str:
    """``SAGEPACK_INDEX_<NAME>_<WHAT>`` of an index (``my-repo`` -> ``MY_REPO``)."""
    return f"{ENV_PREFIX}{re.sub(r'[^A-Za-z0-9]', '_', index).upper()}_{what}"


@dataclass(frozen=True)
class PackageIndex:
    """One index; ``username`` and ``password`` are never shown by ``repr``."""

    name: str
    url: str
    default: bool = False
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    credentials_from: str = ""
    """Where the credentials came from (the variables or the netrc file), else empty."""

    def describe_credentials(self) -> str:
        """``default index, credentials from ...`` or how to give some."""
        kind = "default index" if self.default else "extra index"
        if self.credentials_from:
            return f"{kind}, credentials from {self.credentials_from}"
        host = urlsplit(self.url).hostname or "its host"
        return (f"{kind}, no credentials: set ${env_name(self.name, 'USERNAME')} and "
                f"${env_name(self.name, 'PASSWORD')}, or a netrc entry for {host}")

    def authenticated_url(self) -> str:
        """The URL with the credentials in it: for a tool's environment, nowhere else."""
        if self.username is None and self.password is None:
            return self.url
        parts = urlsplit(self.url)
        auth = quote(self.username or "", safe="")
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        return urlunsplit(parts._replace(netloc=f"{auth}@{parts.netloc}"))


@dataclass(frozen=True)
class IndexSet:
    """A variant's indexes, its own first, then the project's; empty: PyPI alone."""

    indexes: tuple[PackageIndex, ...] = ()

    @property
    def default(self) -> PackageIndex | None:
        return next((i for i in self.indexes if i.default), None)

    @property
    def extras(self) -> tuple[PackageIndex, ...]:
        return tuple(i for i in self.indexes if not i.default)

    def describe(self) -> str:
        """Each index with its URL and where its credentials came from, for messages."""
        return "; ".join(f"{i.name} {i.url} ({i.describe_credentials()})"
                         for i in self.indexes) or "PyPI"

    def redact(self, text: str) -> str:
        """``text`` with the password of each of these indexes (as typed or URL-quoted),
        and the user and password of any URL, replaced by ****."""
        for index in self.indexes:
            if index.password:
                for form in {index.password, quote(index.password, safe="")}:
                    text = text.replace(form, REDACTED)
        return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)

    def uv_env(self) -> dict[str, str] | None:
        """The environment of ``uv pip compile`` (None: the caller's, unchanged)."""
        if not self.indexes:
            return None
        env = _base()
        if self.default is not None:
            env["UV_DEFAULT_INDEX"] = self.default.authenticated_url()
        if self.extras:
            env["UV_INDEX"] = " ".join(i.authenticated_url() for i in self.extras)
        return env

    def pip_env(self) -> dict[str, str] | None:
        """The environment of ``pip download`` (None: the caller's, unchanged)."""
        if not self.indexes:
            return None
        env = _base()
        if self.default is not None:
            env["PIP_INDEX_URL"] = self.default.authenticated_url()
        if self.extras:
            env["PIP_EXTRA_INDEX_URL"] = " ".join(i.authenticated_url() for i in self.extras)
        insecure = sorted({urlsplit(i.url).hostname or "" for i in self.indexes
                           if urlsplit(i.url).scheme == "http"} - {""})
        if insecure:  # pip refuses plain http to any host but this one unless trusted
            env["PIP_TRUSTED_HOST"] = " ".join(insecure)
        return env


def _base() -> dict[str, str]:
    """The process's environment for a child, without the index settings replaced here."""
    return {k: v for k, v in os.environ.items() if k not in _REPLACED}


@dataclass(frozen=True)
class CredentialSource:
    """Where index credentials are looked up: the ``SAGEPACK_INDEX_*`` variables and a netrc
    file (read only when an index needs it)."""

    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    netrc_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CredentialSource:
        given = env.get("NETRC")
        home = env.get("HOME")
        file = Path(given) if given else Path(home) / ".netrc" if home else None
        return cls({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}, file)

    def lookup(self, name: str, url: str, t: Reader, key: str
               ) -> tuple[str | None, str | None, str]:
        """(username, password, where they came from) of the index ``name`` at ``url``."""
        user_var, password_var = env_name(name, "USERNAME"), env_name(name, "PASSWORD")
        user, password = self.env.get(user_var), self.env.get(password_var)
        if user or password:
            return user or "", password, f"${user_var} / ${password_var}"
        host = urlsplit(url).hostname
        if host is None or self.netrc_file is None or not self.netrc_file.is_file():
            return None, None, ""
        try:
            entry = netrc.netrc(str(self.netrc_file)).authenticators(host)
        except (netrc.NetrcParseError, OSError) as exc:
            t.problem(key, f"cannot read the credentials in {self.netrc_file}: {exc}")
            return None, None, ""
        if entry is None:
            return None, None, ""
        login, _, secret = entry
        return login, secret, f"{self.netrc_file} (machine {host})"


def load_indexes(t: Reader, credentials: CredentialSource) -> tuple[PackageIndex, ...]:
    """The ``[[index]]`` entries of the table ``t`` reads (problems go to ``t``)."""
    raw = t.get("index", list, None, label="array of tables [[index]]")
    if raw is None:
        return ()
    found: list[PackageIndex] = []
    for number, item in enumerate(raw):
        key = f"index[{number}]"
        if not isinstance(item, dict):
            t.problem(key, f"expected a table, got {item!r}")
            continue
        r = Reader(item, t.file, f"{t.key(key)}.", t.problems)
        name = r.get("name", str, None, required=True)
        url = r.get("url", str, None, required=True)
        default = bool(r.get("default", bool, False))
        r.finish()
        if name is None or url is None:
            continue
        if not _NAME.match(name):
            r.problem("name", f"expected letters, digits, '-' or '_', got {name!r}")
            continue
        if any(i.name == name for i in found):
            r.problem("name", f"{name!r} names two indexes")
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "file") or not (parts.netloc or parts.path):
            r.problem("url", f"expected an http(s) or file URL of a simple index, got {url!r}")
            continue
        if parts.username is not None or parts.password is not None:
            r.problem("url", "holds credentials: put them in "
                             f"${env_name(name, 'USERNAME')} and ${env_name(name, 'PASSWORD')} "
                             "or a netrc entry, never in a committed file (URL shown as "
                             f"{IndexSet().redact(url)})")
            continue
        user, password, origin = credentials.lookup(name, url, r, "url")
        found.append(PackageIndex(name, url.rstrip("/") + "/", default, user, password, origin))
    if sum(i.default for i in found) > 1:
        t.problem("index", "more than one index has default = true: "
                           + ", ".join(i.name for i in found if i.default))
    return tuple(found)


def merge(own: tuple[PackageIndex, ...], project: tuple[PackageIndex, ...]) -> IndexSet:
    """A variant's indexes before the project's; a variant's default (or an index of the
    same name) replaces the project's."""
    names = {i.name for i in own}
    has_default = any(i.default for i in own)
    inherited = tuple(i for i in project if i.name not in names
                      and not (has_default and i.default))
    return IndexSet(own + inherited)

