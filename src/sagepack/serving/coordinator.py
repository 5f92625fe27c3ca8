"""Multi-model endpoints, the supervisor's side: every worker serves every loaded model.

A ``POST /models`` or ``DELETE /models/<name>`` reaches one worker; that worker asks the
supervisor (``Q``, see :mod:`.readiness`) and answers its client with what the supervisor
says (``D``). The supervisor holds the list of loaded models and runs one change at a
time, a *transaction*, over every worker:

* load: unless the memory budget already rules it out (507), every worker loads the model
  off its event loop, staged and invisible (``C`` load, ``A`` answer). If one fails, every
  worker discards it and the client gets that worker's error (500 with the ``model_fn``
  error): nothing stays half-registered. If the workers' memory is then over the budget,
  every worker discards it too (507). Otherwise every worker publishes it (``C`` publish)
  and the client's 200 goes out once all have: from then on any worker serves it, and
  ``GET /models`` answers the same on every worker.
* unload: the model leaves the list at once; every worker hides it from new requests,
  frees it (``C`` unload) and answers; the client's 200 goes out once all have.

Races are settled by the order in which requests reach the supervisor: a second load of a
name that is loaded or loading answers 409 at once (of two concurrent loads, exactly one
gets 200); an unload of a model still loading answers 409, of one being unloaded 404.
Transactions wait while a worker is starting, and a dead worker is not replaced during
one (its replacement forks with the list of loaded models and loads them before it
accepts). A worker that dies during a load fails it (500, rolled back on the others).

The memory budget is ``SAGEPACK_MEMORY_BUDGET_MB``, else ``SAGEPACK_MEMORY_FRACTION`` (0.8)
of the container's limit (:func:`.memory.container_limit`). It is checked twice, against
what the supervisor and its workers hold (:func:`.memory.used`, proportional set sizes):
before loading, with the archive's size on disk times the number of workers as the
estimate of the model's cost; after loading, with what they measure then.
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sagepack.serving import memory
from sagepack.serving import parameters as p
from sagepack.serving.logs import logger
from sagepack.serving.settings import Settings

LOAD, UNLOAD = "load", "unload"
#: Commands to workers (the ``do`` of a ``C`` message).
DO_LOAD, DO_PUBLISH, DO_DISCARD, DO_UNLOAD = "load", "publish", "discard", "unload"
_MAX_MESSAGE = 4000

SendCommand = Callable[[int, Mapping[str, object]], bool]


@dataclass(frozen=True)
class Record:
    """A model every worker serves."""

    url: str
    loaded_at: str
    memory_bytes: int


@dataclass
class _Txn:
    op: str
    name: str
    url: str
    slot: int  # the worker that asked
    request: int  # its request id
    id: int = 0
    phase: str = ""
    waiting: set[int] = field(default_factory=set)
    slots: set[int] = field(default_factory=set)  # the workers taking part
    failure: tuple[int, str] | None = None
    detail: str = ""  # the failure's traceback, logged once
    outcome: tuple[int, str, dict[str, object] | None] = (500, "", None)
    before: int = 0
    started: float = 0.0


@dataclass(frozen=True)
class Budget:
    """Bytes the server may hold with its models, and where the figure comes from."""

    bytes: int
    source: str

    @classmethod
    def of(cls, settings: Settings) -> Budget:
        if settings.memory_budget_bytes is not None:
            return cls(settings.memory_budget_bytes, p.MEMORY_BUDGET_MB)
        limit, where = memory.container_limit()
        return cls(int(limit * settings.memory_fraction),
                   f"{settings.memory_fraction:g} x {memory.mib(limit)} from {where}")


class Coordinator:
    """The supervisor's list of models and the transaction that changes it."""

    def __init__(self, workers: int, budget: Budget, send: SendCommand,
                 reply: SendCommand, pids: Callable[[], Iterable[int]]) -> None:
        self.workers = workers
        self.budget = budget
        self._send = send
        self._reply = reply
        self._pids = pids
        self.models: dict[str, Record] = {}
        self._busy: dict[str, str] = {}  # name -> LOAD or UNLOAD, from request to answer
        self._queue: collections.deque[_Txn] = collections.deque()
        self.active: _Txn | None = None
        self._ids = itertools.count(1)

    def snapshot(self) -> list[dict[str, object]]:
        """The loaded models, for a worker about to fork: it loads them before it accepts."""
        return [{"name": name, "url": record.url, "loaded_at": record.loaded_at,
                 "memory_bytes": record.memory_bytes} for name, record in self.models.items()]

    # --- messages from workers ----------------------------------------------------------

    def request(self, slot: int, content: Mapping[str, object]) -> None:
        """Worker ``slot`` asks to load or unload a model (a ``Q`` message)."""
        op, name, url = content.get("op"), str(content.get("name", "")), str(content.get("url", ""))
        ident = content.get("id")
        request = ident if isinstance(ident, int) else 0
        txn = _Txn(str(op), name, url, slot, request)
        busy = self._busy.get(name)
        if op == LOAD:
            if name in self.models or busy == LOAD:
                where = self.models[name].url if name in self.models else url
                self._done(txn, 409, f"model {name!r} is already {'loaded' if busy is None else 'loading'} "
                                     f"(from {where}); unload it first to load it again")
                return
            if busy == UNLOAD:
                self._done(txn, 409, f"model {name!r} is being unloaded; load it again once "
                                     "DELETE /models/<name> answered")
                return
        elif op == UNLOAD:
            if busy == LOAD:
                self._done(txn, 409, f"model {name!r} is still loading; unload it once loaded")
                return
            if busy == UNLOAD or name not in self.models:
                self._done(txn, 404, f"model {name!r} is not loaded"
                                     f"{' (it is being unloaded)' if busy else ''}")
                return
        else:
            self._done(txn, 400, f"unknown model operation {op!r}")
            return
        if op == UNLOAD:
            txn.url = self.models[name].url
        self._busy[name] = str(op)
        self._queue.append(txn)

    def answer(self, slot: int, content: Mapping[str, object]) -> None:
        """Worker ``slot`` carried out a command (an ``A`` message)."""
        txn = self.active
        if txn is None or content.get("txn") != txn.id or slot not in txn.waiting:
            return
        txn.waiting.discard(slot)
        if not content.get("ok") and txn.failure is None:
            status = content.get("status")
            txn.failure = (status if isinstance(status, int) else 500,
                           str(content.get("message", ""))[:_MAX_MESSAGE])
            txn.detail = str(content.get("detail", ""))
        if not txn.waiting:
            self._advance(txn)

    def worker_gone(self, slot: int) -> None:
        """Worker ``slot`` died: stop waiting for it; a load fails."""
        txn = self.active
        if txn is None or slot not in txn.waiting:
            return
        txn.waiting.discard(slot)
        txn.slots.discard(slot)
        if txn.phase == DO_LOAD and txn.failure is None:
            txn.failure = (500, f"worker {slot} died while loading model {txn.name!r}")
        if not txn.waiting:
            self._advance(txn)

    # --- the transaction ------------------------------------------------------------------

    def step(self, serving: set[int], ready: bool, broken: str | None) -> None:
        """Start the next transaction if the workers in ``serving`` are all there is."""
        if broken is not None:
            while self._queue:
                self._done(self._queue.popleft(), 503, f"the server is broken: {broken}",
                           release=True)
            return
        if self.active is not None or not self._queue or not ready:
            return
        txn = self._queue.popleft()
        txn.id = next(self._ids)
        txn.started = time.monotonic()
        txn.before = memory.used(self._pids())
        self.active = txn
        txn.slots = set(serving)
        if txn.op == UNLOAD:
            self.models.pop(txn.name, None)
            self._command(txn, DO_UNLOAD)
            return
        size = memory.size_on_disk(Path(txn.url))
        estimate = size * self.workers
        if txn.before + estimate > self.budget.bytes:
            self._finish(txn, 507, f"model {txn.name!r} does not fit the memory budget: the "
                         f"server holds {memory.mib(txn.before)}, and the archive's "
                         f"{memory.mib(size)} on disk times {self.workers} worker(s) would "
                         f"bring it over the budget of {memory.mib(self.budget.bytes)} "
                         f"({self.budget.source}); unload models first")
            return
        self._command(txn, DO_LOAD)

    def _command(self, txn: _Txn, do: str, extra: Mapping[str, object] | None = None) -> None:
        """Send command ``do`` to every worker taking part, and wait for their answers.

        A worker that cannot be told is dying: its death (:meth:`worker_gone`) ends the wait.
        """
        txn.phase = do
        txn.waiting = set(txn.slots)
        content = {"txn": txn.id, "do": do, "name": txn.name, "url": txn.url, **(extra or {})}
        for slot in sorted(txn.waiting):
            if not self._send(slot, content):
                logger.warning("worker %d could not be told to %s model %r", slot, do, txn.name)
        if not txn.waiting:
            self._advance(txn)

    def _advance(self, txn: _Txn) -> None:
        """Every worker answered the current phase: the next one, or the client's answer."""
        if txn.phase == DO_LOAD:
            if txn.failure is not None:
                txn.outcome = (txn.failure[0], txn.failure[1], None)
                self._command(txn, DO_DISCARD)
                return
            after = memory.used(self._pids())
            if after > self.budget.bytes:
                txn.outcome = (507, f"model {txn.name!r} does not fit the memory budget: "
                               f"loaded, the server held {memory.mib(after)} (+"
                               f"{memory.mib(after - txn.before)}), over the budget of "
                               f"{memory.mib(self.budget.bytes)} ({self.budget.source}); it "
                               "was unloaded again", None)
                self._command(txn, DO_DISCARD)
                return
            loaded_at = datetime.now(UTC).isoformat(timespec="milliseconds")
            record = Record(txn.url, loaded_at, max(after - txn.before, 0))
            self.models[txn.name] = record
            txn.outcome = (200, "", {"modelName": txn.name, "modelUrl": txn.url,
                                     "status": "loaded", "workers": len(txn.slots),
                                     "loadTimeMs": round((time.monotonic() - txn.started) * 1000),
                                     "memoryBytes": record.memory_bytes})
            self._command(txn, DO_PUBLISH, {"loaded_at": loaded_at, "memory_bytes": record.memory_bytes})
            return
        if txn.phase == DO_UNLOAD:
            freed = max(txn.before - memory.used(self._pids()), 0)
            txn.outcome = (200, "", {"modelName": txn.name, "modelUrl": txn.url,
                                     "status": "unloaded", "memoryFreedBytes": freed})
        self._finish(txn, *txn.outcome)

    def _finish(self, txn: _Txn, status: int, message: str,
                body: dict[str, object] | None = None) -> None:
        self.active = None
        took = (time.monotonic() - txn.started) * 1000
        if status == 200:
            logger.info("model %r %s (%s) in %.0f ms", txn.name,
                        "loaded" if txn.op == LOAD else "unloaded", txn.url, took)
        else:
            logger.error("model %r not %s: %d %s%s", txn.name,
                         "loaded" if txn.op == LOAD else "unloaded", status, message,
                         f"\n{txn.detail.rstrip()}" if txn.detail else "")
        self._done(txn, status, message, body, release=True)

    def _done(self, txn: _Txn, status: int, message: str,
              body: dict[str, object] | None = None, release: bool = False) -> None:
        """Answer the worker that asked; ``release`` frees the name for the next change."""
        if release:
            self._busy.pop(txn.name, None)
        if not self._reply(txn.slot, {"id": txn.request, "status": status, "message": message,
                                      "body": body}):
            logger.warning("worker %d is gone: its request to %s model %r ended with %d",
                           txn.slot, txn.op, txn.name, status)
