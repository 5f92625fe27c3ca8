"""Responses over SageMaker's 6 MB real-time limit are sent, and logged as a warning."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from serving_helpers import invoke

from sagepack.serving.app import ServingApp

App = Callable[..., ServingApp]
# Answers as many bytes as the number in the body.
SIZED = """
def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    return b"r" * int(body), "application/octet-stream"
"""
LIMIT = 6_291_456


def size_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.levelno == logging.WARNING and "real-time limit" in record.getMessage()]


def test_a_response_over_6_mb_is_sent_and_warned_about_with_the_inference_id(
        make_app: App, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(SIZED)
    response = invoke(app, str(LIMIT + 1), "text/csv",
                      **{"X-Amzn-SageMaker-Inference-Id": "job-42"})
    assert response.status_code == 200 and len(response.content) == LIMIT + 1
    assert size_warnings(caplog) == [
        f"response of {LIMIT + 1} bytes to request job-42 exceeds SageMaker's real-time limit "
        f"of {LIMIT} bytes: the endpoint will fail it"]


def test_without_an_inference_id_the_server_request_id_is_named(
        make_app: App, caplog: pytest.LogCaptureFixture) -> None:
    import os

    app = make_app(SIZED)
    invoke(app, "1", "text/csv")
    invoke(app, str(LIMIT + 10), "text/csv")
    assert len(size_warnings(caplog)) == 1
    assert f"to request {os.getpid()}-2 exceeds" in size_warnings(caplog)[0]


def test_a_response_of_exactly_6_mb_or_in_batch_is_not_warned_about(
        make_app: App, caplog: pytest.LogCaptureFixture) -> None:
    assert invoke(make_app(SIZED), str(LIMIT), "text/csv").status_code == 200
    batch = make_app(SIZED, batch=True, max_payload_mb=20)
    assert invoke(batch, str(LIMIT * 2), "text/csv").status_code == 200
    assert size_warnings(caplog) == []
