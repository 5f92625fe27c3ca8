"""Multi-model endpoints on a real ``serve`` (2 workers): SageMaker's model-management API,
its answers and its errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from mme_helpers import FAILS, SCALER, STREAMS, archive, get_json, invoke, load, start_mme
from serving_processes import Server, stop

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_mme(tmp_path)
    yield running
    stop(running)


def test_no_model_at_start_and_ping_is_200_with_an_empty_list(server: Server) -> None:
    assert server.call("GET", "/ping")[0] == 200
    assert get_json(server, "/models") == (200, {"models": [], "nextPageToken": None})
    status, body, _ = server.call("POST", "/invocations", b"[1]",
                                  {"Content-Type": "application/json"})
    assert status == 404 and b"/models/<model_name>/invoke" in body
    assert "multi-model endpoint" in server.log.read_text()


def test_two_models_load_and_each_answers_on_every_worker(server: Server, tmp_path: Path) -> None:
    double = archive(tmp_path, "double", SCALER, factor=2)
    triple = archive(tmp_path, "triple", SCALER, factor=3)
    status, body = load(server, "double", double)
    assert status == 200, body
    assert body["modelName"] == "double" and body["workers"] == 2
    assert load(server, "triple", triple)[0] == 200
    pids: dict[str, set[int]] = {"double": set(), "triple": set()}
    # Which worker accepts a connection is the kernel's choice: ask until each model has
    # answered from both workers (bounded), so a busy machine cannot make it look served
    # by one worker only.
    for _ in range(400):
        if all(len(seen) == 2 for seen in pids.values()):
            break
        for name, factor, url in (("double", 2, double), ("triple", 3, triple)):
            status, answer = invoke(server, name, [1, 2], target=f"prefix/{name}.tar.gz")
            assert status == 200, answer
            assert answer["value"] == [factor, 2 * factor] and answer["dir"] == url
            pids[name].add(answer["pid"])
    assert len(pids["double"]) == 2 and len(pids["triple"]) == 2, \
        f"a model was served by one worker only: {pids}"
    listed = get_json(server, "/models")[1]
    assert listed == {"models": [{"modelName": "double", "modelUrl": double},
                                 {"modelName": "triple", "modelUrl": triple}],
                      "nextPageToken": None}
    status, described = get_json(server, "/models/triple")
    assert status == 200 and described["modelName"] == "triple"
    assert described["modelUrl"] == triple and described["handler"].endswith("code/inference.py")


def test_a_second_load_is_409_and_the_model_keeps_serving(server: Server, tmp_path: Path) -> None:
    url = archive(tmp_path, "double", SCALER, factor=2)
    assert load(server, "double", url)[0] == 200
    status, body = load(server, "double", url)
    assert status == 409 and "'double' is already loaded" in body["message"]
    assert invoke(server, "double", [5])[1]["value"] == [10]


def test_the_same_list_from_every_worker(server: Server, tmp_path: Path) -> None:
    for name in ("m1", "m2", "m3"):
        assert load(server, name, archive(tmp_path, name, SCALER, factor=1))[0] == 200
    # Which worker accepts a connection is the kernel's choice: ask, 10 at a time and at
    # most 400 times, until the log shows both workers answered.
    answers: set[bytes] = set()
    served_by: set[str] = set()
    for _ in range(40):
        answers.update(server.call("GET", "/models")[1] for _ in range(10))
        served_by = set(re.findall(r"\[(\d+)\] INFO \"GET /models\" 200",
                                   server.log.read_text()))
        if len(served_by) == 2:
            break
    assert len(answers) == 1, f"workers disagree on the loaded models: {answers}"
    assert len(served_by) == 2, f"GET /models was answered by workers {served_by} only"


def test_paging_with_max_results_and_next_page_token(server: Server, tmp_path: Path) -> None:
    url = archive(tmp_path, "shared", SCALER, factor=1)
    names = [f"model-{index}" for index in (4, 1, 3, 5, 2)]
    for name in names:
        assert load(server, name, url)[0] == 200
    seen, token, pages = [], None, 0
    while True:
        query = "/models?max_results=2" + (f"&next_page_token={token}" if token else "")
        status, page = get_json(server, query)
        assert status == 200 and len(page["models"]) <= 2
        seen += [m["modelName"] for m in page["models"]]
        pages += 1
        token = page["nextPageToken"]
        if token is None:
            break
    assert seen == sorted(names) and pages == 3
    assert get_json(server, "/models?max_results=5")[1]["nextPageToken"] is None
    for bad in ("max_results=0", "max_results=many", "max_results=1001", "next_page_token=%25%25"):
        status, body = get_json(server, f"/models?{bad}")
        assert status == 400, (bad, body)
        assert bad.split("=")[0] in body["message"]


def test_unload_then_404_on_invoke_describe_and_a_second_unload(server: Server,
                                                                 tmp_path: Path) -> None:
    url = archive(tmp_path, "double", SCALER, factor=2)
    assert load(server, "double", url)[0] == 200
    assert load(server, "kept", archive(tmp_path, "kept", SCALER, factor=1))[0] == 200
    status, body = get_json(server, "/models/double", "DELETE")
    assert status == 200 and body["status"] == "unloaded" and body["modelUrl"] == url
    for _ in range(10):  # both workers
        status, answer = invoke(server, "double", [1])
        assert status == 404 and "'double' is not loaded" in answer["message"]
        assert get_json(server, "/models/double")[0] == 404
    status, body = get_json(server, "/models/double", "DELETE")
    assert status == 404 and "not loaded" in body["message"]
    assert [m["modelName"] for m in get_json(server, "/models")[1]["models"]] == ["kept"]
    assert load(server, "double", url)[0] == 200, "an unloaded model could not load again"
    assert invoke(server, "double", [1])[1]["value"] == [2]


def test_a_failing_model_fn_is_500_with_its_error_and_leaves_nothing(server: Server,
                                                                     tmp_path: Path) -> None:
    status, body = load(server, "broken", archive(tmp_path, "broken", FAILS))
    assert status == 500
    assert "marker c0ffee" in body["message"] and "RuntimeError" in body["message"]
    assert get_json(server, "/models")[1]["models"] == []
    for _ in range(10):
        assert get_json(server, "/models/broken")[0] == 404
        assert invoke(server, "broken", [1])[0] == 404
    assert server.call("GET", "/ping")[0] == 200, "a failed load broke the server"
    fixed = archive(tmp_path, "fixed", SCALER, factor=2)
    assert load(server, "broken", fixed)[0] == 200, "the failed name stayed half-registered"
    log = server.log.read_text()
    assert log.count("model 'broken' not loaded") == 1 and "Traceback" in log


@pytest.mark.parametrize(("body", "status", "says"), [
    (b"not json", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON list"),
    (b'{"url": "/x"}', 400, "model_name"),
    (b'{"model_name": "a/b", "url": "/x"}', 400, "'/'"),
    (b'{"model_name": "a"}', 400, "url is missing"),
    (b'{"model_name": "a", "url": 7}', 400, "url is missing"),
    (b'{"model_name": "a", "url": "relative/model"}', 400, "absolute"),
    (b'{"model_name": "a", "url": "/etc"}', 400, "is not under"),
    (b'{"model_name": "a", "url": "{models}/gone/model"}', 404, "does not exist"),
    (b'{"model_name": "a", "url": "{models}/empty/model"}', 400, "no handler"),
])
def test_a_bad_load_request_names_the_problem(server: Server, tmp_path: Path, body: bytes,
                                              status: int, says: str) -> None:
    (tmp_path / "models" / "empty" / "model").mkdir(parents=True)
    sent = body.replace(b"{models}", str(tmp_path / "models").encode())
    answer, text, _ = server.call("POST", "/models", sent, {"Content-Type": "application/json"})
    assert answer == status, text
    assert says in json.loads(text)["message"]
    assert get_json(server, "/models")[1]["models"] == []


def test_invoke_is_the_invocations_path_streams_limits_and_codecs(server: Server,
                                                                  tmp_path: Path) -> None:
    assert load(server, "streams", archive(tmp_path, "streams", STREAMS))[0] == 200
    assert load(server, "double", archive(tmp_path, "double", SCALER, factor=2))[0] == 200
    status, body, _ = server.call("POST", "/models/streams/invoke", b"x",
                                  {"Content-Type": "text/plain"})
    assert status == 200 and body == b"chunk 0\nchunk 1\nchunk 2\n"
    status, body, _ = server.call("POST", "/models/double/invoke", b"x" * (7 << 20),
                                  {"Content-Type": "application/json"})
    assert status == 413, body
    status, body, _ = server.call("POST", "/models/double/invoke", b"[1,",
                                  {"Content-Type": "application/json"})
    assert status == 400 and b"malformed" in body
    status, body, _ = server.call("POST", "/models/double/invoke", b"[1]",
                                  {"Content-Type": "application/x-unknown"})
    assert status == 415


@pytest.mark.parametrize(("method", "path", "status"), [
    ("PUT", "/models", 405), ("GET", "/models/a/invoke", 405), ("PATCH", "/models/a", 405),
    ("GET", "/models/a/b", 404), ("POST", "/models//invoke", 404),
])
def test_wrong_methods_and_paths(server: Server, method: str, path: str, status: int) -> None:
    assert server.call(method, path)[0] == status
