"""Whole transform jobs against a real HTTP server on 127.0.0.1 (no Docker)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path

import pytest
from transform_helpers import FakeContainer, Reply

from sagepack.errors import TransformError
from sagepack.transform import TransformJob, run_transform
from sagepack.transform.records import encode_recordio, encode_tfrecord

MB = 1024 * 1024


def run(container: FakeContainer, tmp_path: Path, inp: Path | None = None, **kw: object):  # type: ignore[no-untyped-def]
    job = TransformJob(input=inp or tmp_path / "in", output=tmp_path / "out", **kw)  # type: ignore[arg-type]
    return run_transform(job, container.url, progress=False, backoff_s=0.01)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.endswith(".partial")]


# --- splitting, batching, assembly ---------------------------------------------------


def test_folder_walked_recursively_one_out_per_input_keeping_relative_paths(
        container: FakeContainer, tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv", "1,2\n3,4\n")
    write(tmp_path / "in/deep/er/b.csv", "5,6\n")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line")
    assert report.ok and report.records == 3
    assert (tmp_path / "out/a.csv.out").read_bytes() == b"1,2\n3,4\n"
    assert (tmp_path / "out/deep/er/b.csv.out").read_bytes() == b"5,6\n"
    assert [h["content-type"] for h in container.headers] == ["text/csv", "text/csv"]


def test_a_single_file_input_writes_its_out_in_the_output_folder(
        container: FakeContainer, tmp_path: Path) -> None:
    src = write(tmp_path / "one.json", '{"x": 1}')
    report = run(container, tmp_path, inp=src, content_type="application/json",
                 accept="application/json")
    assert report.ok
    assert (tmp_path / "out/one.json.out").read_bytes() == b'{"x": 1}'
    assert container.headers[0]["accept"] == "application/json"


def test_line_multirecord_packs_lines_up_to_max_payload(container: FakeContainer,
                                                       tmp_path: Path) -> None:
    line = b"x" * 300_000 + b"\n"  # three fit in 1 MB (900,003 bytes), four do not
    write(tmp_path / "in/big.csv", line * 10)
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 strategy="MultiRecord", max_payload_mb=1)
    assert report.ok and report.records == 10
    assert [len(r) // len(line) for r in container.requests] == [3, 3, 3, 1]
    assert all(len(r) <= MB for r in container.requests)
    assert (tmp_path / "out/big.csv.out").read_bytes() == line * 10


def test_singlerecord_sends_one_record_per_request(container: FakeContainer,
                                                   tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv", "1,2\n3,4\n5,6\n")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 strategy="SingleRecord", assemble_with="Line")
    assert container.requests == [b"1,2", b"3,4", b"5,6"]
    assert report.requests == 3
    assert (tmp_path / "out/a.csv.out").read_bytes() == b"1,2\n3,4\n5,6\n"


def test_assemble_with_line_adds_a_newline_per_response_and_none_concatenates(
        container: FakeContainer, tmp_path: Path) -> None:
    container.model = lambda body, headers: (200, b"p" + body[-1:])
    write(tmp_path / "in/a.csv", "r1\nr2\nr3\n")
    run(container, tmp_path, content_type="text/csv", split_type="Line",
        strategy="SingleRecord", assemble_with="None")
    assert (tmp_path / "out/a.csv.out").read_bytes() == b"p1p2p3"
    run(container, tmp_path, content_type="text/csv", split_type="Line",
        strategy="SingleRecord", assemble_with="Line")
    assert (tmp_path / "out/a.csv.out").read_bytes() == b"p1\np2\np3\n"


def test_recordio_multirecord_keeps_framing_singlerecord_sends_the_data(
        container: FakeContainer, tmp_path: Path) -> None:
    records = [encode_recordio(p) for p in (b"first", b"second!", b"3")]
    write(tmp_path / "in/data.rec", b"".join(records))
    run(container, tmp_path, content_type="application/x-recordio-protobuf",
        split_type="RecordIO", strategy="MultiRecord")
    assert container.requests == [b"".join(records)]
    container.requests.clear()
    report = run(container, tmp_path, content_type="application/x-recordio-protobuf",
                 split_type="RecordIO", strategy="SingleRecord")
    assert container.requests == [b"first", b"second!", b"3"]
    assert report.records == 3


def test_tfrecord_split(container: FakeContainer, tmp_path: Path) -> None:
    payloads = [b"example-%d" % i for i in range(5)]
    write(tmp_path / "in/train.tfrecord", b"".join(encode_tfrecord(p) for p in payloads))
    report = run(container, tmp_path, content_type="application/x-tfexample",
                 split_type="TFRecord", strategy="SingleRecord", assemble_with="Line")
    assert container.requests == payloads
    assert report.records == 5
    assert (tmp_path / "out/train.tfrecord.out").read_bytes() == b"\n".join(payloads) + b"\n"


def test_corrupted_tfrecord_fails_its_file_with_the_record_named(
        container: FakeContainer, tmp_path: Path) -> None:
    data = bytearray(encode_tfrecord(b"good") + encode_tfrecord(b"bad!"))
    data[-6] ^= 0x01
    write(tmp_path / "in/broken.tfrecord", bytes(data))
    write(tmp_path / "in/fine.tfrecord", encode_tfrecord(b"ok"))
    report = run(container, tmp_path, split_type="TFRecord", strategy="SingleRecord")
    (failed,) = report.failures
    assert failed.relative == "broken.tfrecord"
    assert "TFRecord record 1" in (failed.error or "") and "checksum" in (failed.error or "")
    assert not (tmp_path / "out/broken.tfrecord.out").exists()
    assert (tmp_path / "out/fine.tfrecord.out").read_bytes() == b"ok"


def test_gzip_input_is_decompressed_before_splitting(container: FakeContainer,
                                                     tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv.gz", gzip.compress(b"1,2\n3,4\n"))
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 strategy="SingleRecord", compression="Gzip", assemble_with="Line")
    assert container.requests == [b"1,2", b"3,4"]
    assert report.records == 2
    assert (tmp_path / "out/a.csv.gz.out").read_bytes() == b"1,2\n3,4\n"


def test_an_empty_file_gets_an_empty_out_and_sends_nothing(container: FakeContainer,
                                                           tmp_path: Path) -> None:
    write(tmp_path / "in/empty.csv", b"")
    write(tmp_path / "in/one.csv", b"1\n")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line")
    assert report.ok
    assert (tmp_path / "out/empty.csv.out").read_bytes() == b""
    assert container.requests == [b"1\n"]


def test_max_payload_zero_sends_the_file_in_one_chunked_request(container: FakeContainer,
                                                                tmp_path: Path) -> None:
    body = b"y" * 100 + b"\n"
    write(tmp_path / "in/a.csv", body * 30_000)  # ~3 MB, sent in 1 MB chunks
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 max_payload_mb=0, max_concurrent=4)
    assert report.ok
    assert container.requests == [body * 30_000]
    assert container.headers[0].get("transfer-encoding") == "chunked"


# --- failures -----------------------------------------------------------------------


def test_a_record_over_the_limit_fails_its_file_and_the_others_complete(
        container: FakeContainer, tmp_path: Path) -> None:
    write(tmp_path / "in/a_ok.csv", "1\n2\n")
    write(tmp_path / "in/b_huge.csv", b"small\n" + b"z" * (MB + 1) + b"\nsmall\n")
    write(tmp_path / "in/c_ok.csv", "3\n")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 max_payload_mb=1)
    (failed,) = report.failures
    assert failed.relative == "b_huge.csv"
    assert "record 2 is 1,048,578 bytes, larger than MaxPayloadInMB 1" in (failed.error or "")
    assert not (tmp_path / "out/b_huge.csv.out").exists()
    assert (tmp_path / "out/a_ok.csv.out").read_bytes() == b"1\n2\n"
    assert (tmp_path / "out/c_ok.csv.out").read_bytes() == b"3\n"
    assert leftovers(tmp_path / "out") == []
    with pytest.raises(TransformError, match=r"(?s)1 of 3 input file\(s\) failed.*\n  b_huge.csv: record 2 is"):
        report.raise_for_failures()


def test_an_http_error_body_is_never_written_as_a_result(container: FakeContainer,
                                                         tmp_path: Path) -> None:
    def model(body: bytes, headers: dict[str, str]) -> Reply:
        if b"bad" in body:
            return 422, json.dumps({"message": "feature 'age' is missing"}).encode()
        return 200, b"fine"

    container.model = model
    write(tmp_path / "in/good.csv", "a\nb\n")
    write(tmp_path / "in/poisoned.csv", "a\nbad\nc\n")
    write(tmp_path / "out/poisoned.csv.out", "stale output of an earlier run")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 strategy="SingleRecord", assemble_with="Line")
    (failed,) = report.failures
    assert failed.status == 422
    assert failed.error == "record 2: HTTP 422: feature 'age' is missing"
    assert not (tmp_path / "out/poisoned.csv.out").exists()
    assert (tmp_path / "out/good.csv.out").read_bytes() == b"fine\nfine\n"
    assert all(b"missing" not in p.read_bytes() for p in (tmp_path / "out").rglob("*"))
    assert leftovers(tmp_path / "out") == []


def test_5xx_are_retried_up_to_retries(container: FakeContainer, tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(body: bytes, headers: dict[str, str]) -> Reply:
        calls["n"] += 1
        return (503, b"warming up") if calls["n"] <= 2 else (200, b"done")

    container.model = flaky
    write(tmp_path / "in/a.csv", "1\n")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line", retries=2)
    assert report.ok and calls["n"] == 3
    assert (tmp_path / "out/a.csv.out").read_bytes() == b"done"

    calls["n"] = 0
    report = run(container, tmp_path, content_type="text/csv", split_type="Line", retries=1)
    (failed,) = report.failures
    assert calls["n"] == 2
    assert failed.status == 503
    assert "HTTP 503: warming up (after 2 attempts)" in (failed.error or "")


def test_a_retried_chunked_request_sends_the_whole_body_again(container: FakeContainer,
                                                              tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(body: bytes, headers: dict[str, str]) -> Reply:
        calls["n"] += 1
        return (503, b"warming up") if calls["n"] == 1 else (200, body)

    container.model = flaky
    content = b"".join(b"%d,%d\n" % (i, i) for i in range(300_000))  # several 1 MiB chunks
    write(tmp_path / "in/a.csv", content)
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 max_payload_mb=0, retries=1)
    assert report.ok and calls["n"] == 2
    assert [len(r) for r in container.requests] == [len(content), len(content)]
    assert all(h.get("transfer-encoding") == "chunked" for h in container.headers)
    assert (tmp_path / "out/a.csv.out").read_bytes() == content


def test_4xx_are_not_retried(container: FakeContainer, tmp_path: Path) -> None:
    container.model = lambda body, headers: (400, b"bad input")
    write(tmp_path / "in/a.csv", "1\n")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line", retries=3)
    assert len(container.requests) == 1
    assert report.failures[0].status == 400


def test_invocation_timeout(container: FakeContainer, tmp_path: Path) -> None:
    def slow(body: bytes, headers: dict[str, str]) -> Reply:
        time.sleep(1.5)
        return 200, b"late"

    container.model = slow
    write(tmp_path / "in/a.csv", "1\n")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 timeout_s=1, retries=0)
    (failed,) = report.failures
    assert failed.status is None
    assert "no answer within the invocation timeout of 1 s" in (failed.error or "")


# --- concurrency and order ----------------------------------------------------------


def test_concurrent_requests_keep_output_in_input_order(container: FakeContainer,
                                                        tmp_path: Path) -> None:
    gate = threading.Barrier(4, timeout=5)

    def model(body: bytes, headers: dict[str, str]) -> Reply:
        n = int(body)
        if n < 4:
            gate.wait()  # the first four are in flight together
        time.sleep(0.02 * (20 - n) / 20)  # earlier records answer later
        return 200, b"out-%d" % n

    container.model = model
    write(tmp_path / "in/a.csv", "".join(f"{i}\n" for i in range(20)))
    write(tmp_path / "in/b.csv", "".join(f"{i}\n" for i in range(5)))
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 strategy="SingleRecord", max_concurrent=4, max_payload_mb=6,
                 assemble_with="Line")
    assert report.ok
    assert container.max_in_flight == 4
    assert (tmp_path / "out/a.csv.out").read_text() == "".join(f"out-{i}\n" for i in range(20))
    assert (tmp_path / "out/b.csv.out").read_text() == "".join(f"out-{i}\n" for i in range(5))


# --- execution parameters -----------------------------------------------------------


def test_container_execution_parameters_apply_unless_given(container: FakeContainer,
                                                           tmp_path: Path) -> None:
    container.execution_parameters = {"MaxConcurrentTransforms": 2,
                                      "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 3}
    write(tmp_path / "in/a.csv", "1\n2\n3\n")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line")
    p = report.parameters
    assert (p.strategy, p.max_concurrent, p.max_payload_mb) == ("SingleRecord", 2, 3)
    assert len(container.requests) == 3

    container.requests.clear()
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 strategy="MultiRecord")
    assert report.parameters.strategy == "MultiRecord"
    assert report.parameters.sources["BatchStrategy"] == "job"
    assert report.parameters.sources["MaxConcurrentTransforms"] == "container"
    assert container.requests == [b"1\n2\n3\n"]


def test_without_execution_parameters_the_defaults_apply(container: FakeContainer,
                                                         tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv", "1\n")
    p = run(container, tmp_path, content_type="text/csv", split_type="Line").parameters
    assert (p.strategy, p.max_concurrent, p.max_payload_mb) == ("MultiRecord", 1, 6)
    assert container.execution_parameter_calls == 1


def test_invalid_parameters_raise_before_any_request(container: FakeContainer,
                                                     tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv", "1\n")
    with pytest.raises(TransformError, match="exceeds 100"):
        run(container, tmp_path, content_type="text/csv", max_concurrent=11, max_payload_mb=10)
    assert container.requests == []


def test_an_input_folder_without_files_is_an_error(container: FakeContainer,
                                                    tmp_path: Path) -> None:
    (tmp_path / "in" / "nothing").mkdir(parents=True)
    with pytest.raises(TransformError, match="no input files under"):
        run(container, tmp_path, content_type="text/csv")


def test_unreachable_container_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "in/a.csv", "1\n")
    job = TransformJob(input=tmp_path / "in", output=tmp_path / "out", content_type="text/csv")
    with pytest.raises(TransformError, match=r"cannot reach the container at http://127\.0\.0\.1:9"):
        run_transform(job, "http://127.0.0.1:9", progress=False)


# --- data processing ----------------------------------------------------------------


def test_csv_input_filter_join_and_output_filter(container: FakeContainer,
                                                 tmp_path: Path) -> None:
    def total(body: bytes, headers: dict[str, str]) -> Reply:
        rows = body.decode().strip("\n").split("\n")
        return 200, "".join(f"{sum(float(v) for v in r.split(','))}\n" for r in rows).encode()

    container.model = total
    write(tmp_path / "in/a.csv", "id1,1,2\nid2,3,4\nid3,5,6\n")
    report = run(container, tmp_path, content_type="text/csv", accept="text/csv",
                 split_type="Line", strategy="MultiRecord", assemble_with="Line",
                 input_filter="$[1:]", join_source="Input", output_filter="$[0,-1]")
    assert report.ok, report.summary()
    assert container.requests == [b"1,2\n3,4\n5,6\n"]  # the id column never reaches the model
    assert (tmp_path / "out/a.csv.out").read_text() == "id1,3.0\nid2,7.0\nid3,11.0\n"


def test_csv_join_without_filters_appends_the_prediction(container: FakeContainer,
                                                        tmp_path: Path) -> None:
    container.model = lambda body, headers: (200, b"1\n")
    write(tmp_path / "in/a.csv", "1,2,3\n")
    run(container, tmp_path, content_type="text/csv", split_type="Line",
        strategy="SingleRecord", assemble_with="Line", join_source="Input")
    assert (tmp_path / "out/a.csv.out").read_text() == "1,2,3,1\n"


def test_jsonlines_join_puts_the_prediction_under_sagemakeroutput(container: FakeContainer,
                                                                 tmp_path: Path) -> None:
    def model(body: bytes, headers: dict[str, str]) -> Reply:
        items = [json.loads(x) for x in body.decode().splitlines()]
        return 200, "\n".join(json.dumps({"label": sum(x)}) for x in items).encode()

    container.model = model
    write(tmp_path / "in/a.jsonl",
          '{"id": "a", "features": [1, 2]}\n{"id": "b", "features": [3, 4]}\n')
    report = run(container, tmp_path, content_type="application/jsonlines",
                 accept="application/jsonlines", split_type="Line", assemble_with="Line",
                 input_filter="$.features", join_source="Input",
                 output_filter="$['id','SageMakerOutput']")
    assert report.ok, report.summary()
    assert container.requests == [b"[1,2]\n[3,4]\n"]
    lines = (tmp_path / "out/a.jsonl.out").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [
        {"id": "a", "SageMakerOutput": {"label": 3}},
        {"id": "b", "SageMakerOutput": {"label": 7}},
    ]


def test_json_document_join_with_split_none(container: FakeContainer, tmp_path: Path) -> None:
    container.model = lambda body, headers: (200, b'{"label": 1}')
    write(tmp_path / "in/doc.json", '{"key": 1}')
    run(container, tmp_path, content_type="application/json", split_type="None",
        join_source="Input")
    assert json.loads((tmp_path / "out/doc.json.out").read_text()) == {
        "key": 1, "SageMakerOutput": {"label": 1}}


def test_a_response_that_cannot_be_joined_fails_the_file(container: FakeContainer,
                                                         tmp_path: Path) -> None:
    container.model = lambda body, headers: (200, b"just one line\n")
    write(tmp_path / "in/a.csv", "1\n2\n3\n")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 assemble_with="Line", join_source="Input")
    (failed,) = report.failures
    assert "records 1-3" in (failed.error or "") and "1 line(s) for 3 records" in (failed.error or "")
    assert not (tmp_path / "out/a.csv.out").exists()


def test_report_summary_lists_rates_and_failures(container: FakeContainer,
                                                 tmp_path: Path) -> None:
    container.model = lambda body, headers: (500, b"boom") if body == b"x" else (200, body)
    write(tmp_path / "in/a.csv", "1\n2\n")
    write(tmp_path / "in/b.csv", "x\n")
    report = run(container, tmp_path, content_type="text/csv", split_type="Line",
                 strategy="SingleRecord", retries=0)
    text = report.summary()
    assert "2 file(s), 1 failed, 2 records" in text
    assert "records/s" in text and "MB/s" in text
    assert "FAILED b.csv: record 1: HTTP 500: boom" in text
