"""HTTP calls a transform job makes: ``GET /execution-parameters`` and ``POST /invocations``.

Failures are retried on connection errors, timeouts, 429 and 5xx (never on other 4xx: the
same request would fail the same way), up to the job's ``retries``, with a short
exponential back-off. The body of an error response only ever becomes the failure's
message: it is never returned as a result.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import requests
from requests.adapters import HTTPAdapter

from sagepack.errors import TransformError
from sagepack.serving.parameters import EXECUTION_PARAMETERS, INVOCATIONS
from sagepack.transform.params import ExecutionParameters

__all__ = ["InvocationFailed", "Invoker", "fetch_execution_parameters"]

_CHUNK = 1024 * 1024
_MESSAGE_LIMIT = 500


class InvocationFailed(TransformError):
    """``POST /invocations`` failed for good; ``status`` is ``None`` without an answer."""

    def __init__(self, status: int | None, message: str, attempts: int) -> None:
        self.status = status
        self.message = message
        self.attempts = attempts
        where = f"HTTP {status}" if status is not None else "no response"
        tries = "" if attempts == 1 else f" (after {attempts} attempts)"
        super().__init__(f"{where}: {message}{tries}")


def fetch_execution_parameters(endpoint: str, timeout_s: float = 10.0) -> ExecutionParameters | None:
    """The container's ``/execution-parameters``, or ``None`` when it does not serve them."""
    url = f"{endpoint}{EXECUTION_PARAMETERS}"
    try:
        response = requests.get(url, timeout=timeout_s)
    except requests.RequestException as exc:
        raise TransformError(f"cannot reach the container at {endpoint}: {exc}") from exc
    if response.status_code != 200:
        return None  # optional endpoint: 404 (or any refusal) means "use the defaults"
    try:
        body = response.json()
    except ValueError as exc:
        raise TransformError(f"{url} answered 200 with a body that is not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise TransformError(f"{url} answered 200 with JSON that is not an object")
    return ExecutionParameters.from_json(body, endpoint)


def error_message(response: requests.Response) -> str:
    """A short message from an error response (its JSON ``message``/``error`` if any)."""
    text = response.text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "detail", "errorMessage"):
            if isinstance(body.get(key), str):
                text = body[key]
                break
    text = " ".join(text.split())
    if not text:
        text = response.reason or "empty error response"
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "..."


class Invoker:
    """Posts payloads to ``{endpoint}/invocations``; safe to share between threads."""

    def __init__(self, endpoint: str, *, content_type: str | None, accept: str | None,
                 timeout_s: float, retries: int, pool_size: int, chunked: bool = False,
                 backoff_s: float = 0.2) -> None:
        self.url = f"{endpoint}{INVOCATIONS}"
        self.headers: dict[str, str] = {}
        if content_type:
            self.headers["Content-Type"] = content_type
        if accept:
            self.headers["Accept"] = accept
        self.timeout_s = timeout_s
        self.retries = retries
        self.chunked = chunked
        self.backoff_s = backoff_s
        self._pool_size = pool_size
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def invoke(self, body: bytes) -> bytes:
        """The response body of a 2xx answer; raises :class:`InvocationFailed` otherwise."""
        # Retries are this loop, not urllib3's Retry on the adapter, for two reasons:
        # - MaxPayloadInMB=0 sends the body chunked from a generator, and urllib3 cannot
        #   rewind one: a retry goes out with an empty body and its 200 answer would be
        #   written as the record's result (checked: the server saw 2000 bytes, then 0).
        #   Each attempt here makes a fresh generator.
        # - The failure must carry the last answer's status and message and the number of
        #   attempts ("HTTP 503: warming up (after 2 attempts)"). urllib3 turns exhausted
        #   retries into a RetryError without the response, or (raise_on_status=False)
        #   leaves the count in response.raw.retries.history, and reports a read timeout
        #   after retries as a ConnectionError.
        # The policy itself is SageMaker's: a fixed number of retries per request, on no
        # answer, timeouts, 429 and 5xx; never on another 4xx.
        attempts = 0
        while True:
            attempts += 1
            try:
                data: bytes | Iterator[bytes] = _chunks(body) if self.chunked else body
                response = self._session().post(
                    self.url, data=data, headers=self.headers, timeout=self.timeout_s
                )
            except requests.Timeout:
                failure = InvocationFailed(
                    None, f"no answer within the invocation timeout of {self.timeout_s:g} s",
                    attempts)
            except requests.RequestException as exc:
                failure = InvocationFailed(None, f"request failed: {exc}", attempts)
            else:
                if 200 <= response.status_code < 300:
                    return response.content
                failure = InvocationFailed(response.status_code, error_message(response),
                                           attempts)
                if response.status_code < 500 and response.status_code != 429:
                    raise failure
            if attempts > self.retries:
                raise failure
            time.sleep(self.backoff_s * 2 ** (attempts - 1))


def _chunks(body: bytes) -> Iterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), _CHUNK):
        yield bytes(view[start : start + _CHUNK])
