"""The image test suite's pieces that need no Docker: compose file, comparison, reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagepack.checks import FAILED, PASSED, SKIPPED
from sagepack.compare import response_diffs
from sagepack.config import Sample
from sagepack.containers.contract import check_no_credentials, serving_port
from sagepack.containers.launch import ContainerSpec
from sagepack.containers.readiness import NotReady, PingResult, wait_until_ready
from sagepack.errors import ContainerError
from sagepack.serving.parameters import REALTIME_MAX_BODY_BYTES as MAX_PAYLOAD_BYTES
from sagepack.smoke.compose import render
from sagepack.smoke.probes import grown_body
from sagepack.smoke.report import read_junit


def test_compose_without_network_has_no_network_and_a_read_only_model() -> None:
    doc = render(ContainerSpec("img:1", {"A": "1"}, gpu=False), {"SAGEMAKER_BATCH": "true"},
                 run_id="r1", model_dir=Path("/tmp/m"), no_network=True)
    services = doc["services"]
    assert set(services) == {"model", "model-port", "model-sigterm", "model-batch"}
    for service in services.values():
        assert service["network_mode"] == "none"
        assert "ports" not in service
        assert service["volumes"] == ["/tmp/m:/opt/ml/model:ro"]
        assert service["command"] == ["serve"]
        assert not any(k.startswith("AWS_") for k in service["environment"])
    assert services["model-port"]["environment"]["SAGEMAKER_BIND_TO_PORT"] == "9090"
    assert services["model-batch"]["environment"]["SAGEMAKER_BATCH"] == "true"
    assert "networks" not in doc


def test_compose_with_network_publishes_on_loopback_only() -> None:
    doc = render(ContainerSpec("img:1", {}, gpu=True), {}, run_id="r1", model_dir=None,
                 no_network=False)
    model = doc["services"]["model"]
    assert model["ports"] == ["127.0.0.1::8080"]
    assert "volumes" not in model
    assert model["runtime"] == "nvidia"
    assert doc["services"]["model-port"]["ports"] == ["127.0.0.1::9090"]


def test_credentials_refused_and_port_read() -> None:
    with pytest.raises(ContainerError, match="AWS_ACCESS_KEY_ID"):
        check_no_credentials({"AWS_ACCESS_KEY_ID": "x"})
    assert serving_port({}) == 8080
    assert serving_port({"SAGEMAKER_BIND_TO_PORT": "9000"}) == 9000
    with pytest.raises(ContainerError):
        serving_port({"SAGEMAKER_BIND_TO_PORT": "http"})


@pytest.mark.parametrize(("actual", "expected", "media", "ok"), [
    (b'{"p": [0.1000001, "a"]}', b'{"p": [0.1, "a"]}', "application/json", True),
    (b'{"p": [0.2, "a"]}', b'{"p": [0.1, "a"]}', "application/json", False),
    (b'{"p": [0.1]}', b'{"p": [0.1, 0.2]}', "application/json", False),
    (b"setosa,0.9847031\n", b"setosa,0.984703\n", "text/csv", True),
    (b"setosa,0.98\n", b"setosa,0.984703\n", "text/csv", False),
    (b"virginica,0.98\n", b"setosa,0.98\n", "text/csv", False),
    (b"not json", b"{}", "application/json", False),
])
def test_response_diffs(actual: bytes, expected: bytes, media: str, ok: bool) -> None:
    assert (response_diffs(actual, expected, media) == []) is ok


def test_grown_body_exact_size(tmp_path: Path) -> None:
    body = tmp_path / "r.csv"
    body.write_bytes(b"5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n")
    sample = Sample("csv", body, "text/csv", "text/csv", body)
    grown = grown_body(sample, MAX_PAYLOAD_BYTES, exact=True)
    assert len(grown) == MAX_PAYLOAD_BYTES
    rows = [line for line in grown.split(b"\n") if line]
    assert set(rows) == {b"5.1,3.5,1.4,0.2", b"6.2,2.9,4.3,1.3"}


def test_readiness_stops_at_the_deadline() -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    with pytest.raises(NotReady) as info:
        wait_until_ready(lambda: PingResult(False, "HTTP 503", 0.01), lambda: None,
                         deadline_s=10, clock=lambda: now[0], sleep=sleep)
    assert info.value.waited == pytest.approx(10)
    assert info.value.last is not None and info.value.last.detail == "HTTP 503"


def test_readiness_reports_time_to_ready_and_stops_on_exit() -> None:
    now = [0.0]
    answers = iter([False, False, True])

    def sleep(s: float) -> None:
        now[0] += s

    took = wait_until_ready(lambda: PingResult(next(answers), "x", 0.0), lambda: None,
                            deadline_s=10, interval_s=0.5, clock=lambda: now[0], sleep=sleep)
    assert took == pytest.approx(1.0)

    def dead() -> None:
        raise ContainerError("exited")

    with pytest.raises(ContainerError, match="exited"):
        wait_until_ready(lambda: PingResult(True, "", 0), dead, deadline_s=10)


def test_read_junit(tmp_path: Path) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text("""<?xml version="1.0"?><testsuites><testsuite name="pytest">
<testcase classname="t" name="test_a" time="1.5"><properties>
<property name="check" value="Answers"/><property name="detail" value="HTTP 200"/>
</properties></testcase>
<testcase classname="t" name="test_b" time="0.1"><failure message="AssertionError: 500">tb</failure></testcase>
<testcase classname="t" name="test_c" time="0"><skipped message="no network"/></testcase>
</testsuite></testsuites>""")
    checks = read_junit(xml)
    assert [(c.name, c.outcome) for c in checks] == [
        ("Answers", PASSED), ("test_b", FAILED), ("test_c", SKIPPED)]
    assert checks[0].detail == "HTTP 200" and checks[0].seconds == 1.5
    assert "500" in checks[1].message


def test_artifact_mode_is_read_by_the_key_the_build_writes() -> None:
    from sagepack.containers.labels import artifact_mode
    from sagepack.labels import ARTIFACT_MODE

    assert artifact_mode({ARTIFACT_MODE: "baked"}, "dynamic") == "baked"
    assert artifact_mode({ARTIFACT_MODE: "dynamic"}, "baked") == "dynamic"
    assert artifact_mode({"vendor.artifact-mode": "baked"}, "dynamic") == "dynamic"
    assert artifact_mode({ARTIFACT_MODE: "sideways"}, "dynamic") == "dynamic"
    assert artifact_mode(None, "baked") == "baked"
