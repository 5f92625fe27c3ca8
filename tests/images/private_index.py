"""A real PEP 503 package index for the tests: tiny wheels built here, a ``simple/`` tree
over them, served by ``http.server`` on the loopback, optionally behind basic auth."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import threading
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name


def build_wheel(dest: Path, name: str, version: str, requires: Sequence[str] = (),
                tag: str = "py3-none-any") -> Path:
    """A wheel of one Python module, with its RECORD, tagged ``tag`` (by default a pure
    one; ``cp311-cp311-manylinux_2_17_x86_64`` makes one for x86_64 only)."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'__version__ = "{version}"\n',
        f"{info}/METADATA": "Metadata-Version: 2.1\n"
                            f"Name: {name}\nVersion: {version}\n"
                            + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: sagepack-tests\n"
                         f"Root-Is-Purelib: {str(tag == 'py3-none-any').lower()}\n"
                         f"Tag: {tag}\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{module}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def write_simple_tree(root: Path, wheels: Sequence[Path]) -> Path:
    """``root/simple/`` (PEP 503) listing ``wheels``, which are kept in ``root/files/``."""
    simple = root / "simple"
    projects: dict[str, list[Path]] = {}
    for wheel in wheels:
        stored = root / "files" / wheel.name
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(wheel.read_bytes())
        projects.setdefault(canonicalize_name(wheel.name.split("-")[0]), []).append(stored)
    for project, files in projects.items():
        links = "".join(
            f'<a href="../../files/{html.escape(f.name)}#sha256='
            f'{hashlib.sha256(f.read_bytes()).hexdigest()}">{html.escape(f.name)}</a>\n'
            for f in files)
        (simple / project).mkdir(parents=True, exist_ok=True)
        (simple / project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}"
                                                     "</body></html>\n")
    index = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(projects))
    (simple / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{index}</body></html>\n")
    return simple


@dataclass
class Served:
    """A running index server: its base URL and what it was asked."""

    url: str
    requests: list[tuple[str, int]] = field(default_factory=list)
    """(path, status) of every request, in order."""


class _Handler(SimpleHTTPRequestHandler):
    """Files under the served folder; paths under a protected prefix need basic auth."""

    def __init__(self, *args: Any, served: Served, protected: dict[str, str],
                 **kwargs: Any) -> None:
        self.served = served
        self.protected = protected
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        for prefix, wanted in self.protected.items():
            if self.path.startswith(prefix) and self.headers.get("Authorization") != wanted:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="private"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        super().do_GET()

    def send_response(self, code: int, message: str | None = None) -> None:
        self.served.requests.append((self.path, code))
        super().send_response(code, message)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextlib.contextmanager
def serve(root: Path, protected: dict[str, tuple[str, str]] | None = None) -> Iterator[Served]:
    """Serve ``root`` on 127.0.0.1; ``protected`` maps a path prefix to the (user, password)
    it wants."""
    served = Served("")
    wanted = {prefix: "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode()
              for prefix, (u, p) in (protected or {}).items()}
    handler = partial(_Handler, served=served, protected=wanted, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
