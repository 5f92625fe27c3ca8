"""The supervisor's side of multi-model serving, with workers played by the test: who is
told what, in which order, and what the client hears."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from sagepack.serving import coordinator as c
from sagepack.serving import memory

SLOTS = {0, 1}


class Workers:
    """Records the commands and answers the coordinator sends."""

    def __init__(self, budget: int = 1 << 40) -> None:
        self.commands: list[tuple[int, dict[str, object]]] = []
        self.replies: list[tuple[int, dict[str, object]]] = []
        self.coordinator = c.Coordinator(2, c.Budget(budget, "test budget"), self.command,
                                         self.reply, lambda: [os.getpid()])

    def command(self, slot: int, content: Mapping[str, object]) -> bool:
        self.commands.append((slot, dict(content)))
        return True

    def reply(self, slot: int, content: Mapping[str, object]) -> bool:
        self.replies.append((slot, dict(content)))
        return True

    def ask(self, slot: int, op: str, name: str, url: str = "/m", ident: int = 1) -> None:
        self.coordinator.request(slot, {"id": ident, "op": op, "name": name, "url": url})
        self.coordinator.step(set(SLOTS), True, None)

    def pending(self, do: str) -> list[int]:
        """The slots told to ``do`` since the last call, and forget them."""
        slots = [slot for slot, content in self.commands if content["do"] == do]
        self.commands = [(s, m) for s, m in self.commands if m["do"] != do]
        return sorted(slots)

    def answer_all(self, ok: bool = True, slots: set[int] = SLOTS, message: str = "") -> None:
        txn = self.coordinator.active
        assert txn is not None
        for slot in sorted(slots):
            self.coordinator.answer(slot, {"txn": txn.id, "ok": ok, "status": 500,
                                           "message": message})


def load_fully(w: Workers, name: str, slot: int = 0, ident: int = 1) -> None:
    w.ask(slot, c.LOAD, name, ident=ident)
    assert w.pending(c.DO_LOAD) == [0, 1]
    w.answer_all()
    assert w.pending(c.DO_PUBLISH) == [0, 1]
    w.answer_all()


def test_a_load_is_answered_only_after_every_worker_loaded_and_published() -> None:
    w = Workers()
    w.ask(1, c.LOAD, "a", ident=7)
    assert w.pending(c.DO_LOAD) == [0, 1]
    w.answer_all(slots={0})
    assert w.replies == [] and w.pending(c.DO_PUBLISH) == []
    w.answer_all(slots={1})
    assert w.pending(c.DO_PUBLISH) == [0, 1]
    assert w.replies == [], "answered before every worker published the model"
    w.answer_all()
    assert [(slot, r["id"], r["status"]) for slot, r in w.replies] == [(1, 7, 200)]
    assert [m["name"] for m in w.coordinator.snapshot()] == ["a"]


def test_a_second_load_of_a_loading_or_loaded_name_is_409_and_the_first_still_succeeds() -> None:
    w = Workers()
    w.ask(0, c.LOAD, "a", ident=1)
    w.ask(1, c.LOAD, "a", ident=2)
    assert [(r["id"], r["status"]) for _, r in w.replies] == [(2, 409)]
    w.pending(c.DO_LOAD)
    w.answer_all()
    w.pending(c.DO_PUBLISH)
    w.answer_all()
    assert [(r["id"], r["status"]) for _, r in w.replies] == [(2, 409), (1, 200)]
    w.ask(1, c.LOAD, "a", ident=3)
    assert w.replies[-1][1]["status"] == 409 and "already loaded" in str(w.replies[-1][1]["message"])


def test_a_failed_load_is_discarded_on_every_worker_before_the_500() -> None:
    w = Workers()
    w.ask(0, c.LOAD, "a")
    w.pending(c.DO_LOAD)
    w.answer_all(slots={0})
    w.answer_all(ok=False, slots={1}, message="model_fn raised OSError: no weights")
    assert w.pending(c.DO_DISCARD) == [0, 1]
    assert w.replies == [], "answered before the workers discarded the model"
    w.answer_all()
    assert w.replies[-1][1]["status"] == 500
    assert "no weights" in str(w.replies[-1][1]["message"])
    assert w.coordinator.snapshot() == []
    load_fully(w, "a", ident=2)  # the name is free again
    assert w.replies[-1][1]["status"] == 200


def test_a_worker_dying_during_a_load_fails_it_and_the_others_discard() -> None:
    w = Workers()
    w.ask(0, c.LOAD, "a")
    w.pending(c.DO_LOAD)
    w.answer_all(slots={0})
    w.coordinator.worker_gone(1)
    assert w.pending(c.DO_DISCARD) == [0]
    w.answer_all(slots={0})
    assert w.replies[-1][1]["status"] == 500 and "worker 1 died" in str(w.replies[-1][1]["message"])


def test_unload_of_a_loading_model_is_409_of_an_unloaded_one_404_and_twice_404() -> None:
    w = Workers()
    w.ask(0, c.LOAD, "a", ident=1)
    w.ask(1, c.UNLOAD, "a", ident=2)
    assert w.replies[-1][1]["status"] == 409 and "still loading" in str(w.replies[-1][1]["message"])
    w.pending(c.DO_LOAD)
    w.answer_all()
    w.pending(c.DO_PUBLISH)
    w.answer_all()
    w.ask(1, c.UNLOAD, "a", ident=3)
    w.ask(0, c.UNLOAD, "a", ident=4)
    assert w.replies[-1][1]["status"] == 404
    assert w.coordinator.snapshot() == [], "an unloaded model would be loaded by a new worker"
    assert w.pending(c.DO_UNLOAD) == [0, 1]
    w.answer_all()
    assert (w.replies[-1][1]["id"], w.replies[-1][1]["status"]) == (3, 200)
    assert w.replies[-1][1]["body"]["modelUrl"] == "/m"  # type: ignore[index]
    w.ask(0, c.UNLOAD, "a", ident=5)
    w.ask(0, c.UNLOAD, "never", ident=6)
    assert [r["status"] for _, r in w.replies[-2:]] == [404, 404]


def test_a_load_during_an_unload_of_the_same_name_is_409() -> None:
    w = Workers()
    load_fully(w, "a")
    w.ask(0, c.UNLOAD, "a", ident=2)
    w.ask(1, c.LOAD, "a", ident=3)
    assert w.replies[-1][1]["status"] == 409 and "being unloaded" in str(w.replies[-1][1]["message"])


def test_changes_run_one_at_a_time_and_wait_for_every_worker_to_be_up() -> None:
    w = Workers()
    w.coordinator.request(0, {"id": 1, "op": c.LOAD, "name": "a", "url": "/m"})
    w.coordinator.request(0, {"id": 2, "op": c.LOAD, "name": "b", "url": "/m"})
    w.coordinator.step({0}, False, None)
    assert w.commands == [], "a change started while a worker was starting"
    w.coordinator.step(set(SLOTS), True, None)
    assert [m["name"] for _, m in w.commands] == ["a", "a"]
    w.coordinator.step(set(SLOTS), True, None)
    assert [m["name"] for _, m in w.commands] == ["a", "a"], "two loads ran at once"


def test_a_broken_server_answers_queued_changes_503() -> None:
    w = Workers()
    w.coordinator.request(0, {"id": 1, "op": c.LOAD, "name": "a", "url": "/m"})
    w.coordinator.step({0}, False, "model_fn failed")
    assert w.replies[-1][1]["status"] == 503 and w.commands == []


def test_over_the_budget_before_loading_is_507_without_telling_any_worker(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"w" * 4096)
    w = Workers(budget=memory.used([os.getpid()]) + 4096)  # 2 workers x 4 KiB do not fit
    w.ask(0, c.LOAD, "a", url=str(tmp_path))
    assert w.commands == []
    reply = w.replies[-1][1]
    assert reply["status"] == 507
    assert "test budget" in str(reply["message"]) and "2 worker(s)" in str(reply["message"])


def test_over_the_budget_after_loading_is_507_and_discarded_everywhere() -> None:
    w = Workers(budget=memory.used([os.getpid()]) + (64 << 20))
    w.ask(0, c.LOAD, "a")
    w.pending(c.DO_LOAD)
    ballast = bytearray(128 << 20)  # what the "workers" allocated while loading
    for index in range(0, len(ballast), 4096):
        ballast[index] = 1
    w.answer_all()
    assert w.pending(c.DO_DISCARD) == [0, 1] and w.pending(c.DO_PUBLISH) == []
    del ballast
    w.answer_all()
    assert w.replies[-1][1]["status"] == 507 and "unloaded again" in str(w.replies[-1][1]["message"])
    assert w.coordinator.snapshot() == []


@pytest.mark.parametrize("op", ["reload", None])
def test_an_unknown_operation_is_400(op: str | None) -> None:
    w = Workers()
    w.coordinator.request(0, {"id": 1, "op": op, "name": "a"})
    assert w.replies[-1][1]["status"] == 400
