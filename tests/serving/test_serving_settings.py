from __future__ import annotations

from pathlib import Path

import pytest

from sagepack.errors import ConfigError
from sagepack.serving import parameters
from sagepack.serving.settings import Settings, cpu_count


def test_defaults_follow_the_sagemaker_contract() -> None:
    settings = Settings.from_environ({})
    assert settings.host == "0.0.0.0"
    assert settings.port == 8080
    assert settings.workers == cpu_count()
    assert settings.timeout_s == 60
    assert settings.model_dir == Path("/opt/ml/model")
    assert settings.handler_path == Path("/opt/ml/model/code/inference.py")
    assert settings.max_body_bytes == 6_291_456
    assert settings.execution_parameters() == {
        "MaxConcurrentTransforms": cpu_count(), "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6}
    assert settings.default_accept == "application/json"
    assert not settings.debug


def test_every_variable_is_read() -> None:
    settings = Settings.from_environ({
        "SAGEMAKER_BIND_TO_PORT": "9000", "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": "2.5", "SAGEMAKER_PROGRAM": "serve_me",
        "SAGEPACK_MODEL_DIR": "/models/a", "SAGEPACK_DEFAULT_ACCEPT": "text/csv",
        "SAGEPACK_DEBUG": "true", "SAGEPACK_THREADS": "4", "SAGEPACK_HOST": "127.0.0.1",
        "SAGEPACK_ACCESS_LOG": "false", "SAGEPACK_LOG_LEVEL": "warning",
    })
    assert (settings.port, settings.workers, settings.timeout_s) == (9000, 3, 2.5)
    assert settings.handler_path == Path("/models/a/code/serve_me.py")
    assert settings.default_accept == "text/csv"
    assert settings.debug and settings.threads == 4 and not settings.access_log
    assert settings.host == "127.0.0.1" and settings.log_level == "WARNING"


def test_handler_baked_into_the_image() -> None:
    settings = Settings.from_environ({"SAGEPACK_HANDLER_DIR": "/opt/handler"})
    assert settings.handler_path == Path("/opt/handler/inference.py")
    assert settings.model_dir == Path("/opt/ml/model")


def test_batch_job_variables_win_over_image_config() -> None:
    env = {"SAGEMAKER_BATCH": "true", "SAGEPACK_MAX_PAYLOAD_IN_MB": "20",
           "SAGEPACK_BATCH_STRATEGY": "SINGLE_RECORD", "SAGEPACK_MAX_CONCURRENT_TRANSFORMS": "3"}
    image_only = Settings.from_environ(env)
    assert image_only.execution_parameters() == {
        "MaxConcurrentTransforms": 3, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 20}
    assert image_only.max_body_bytes == 20 * 1024 * 1024
    job = Settings.from_environ({**env, "SAGEMAKER_MAX_PAYLOAD_IN_MB": "100",
                                 "SAGEMAKER_BATCH_STRATEGY": "MultiRecord",
                                 "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "1"})
    assert job.execution_parameters() == {
        "MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 100}
    assert job.max_body_bytes == 100 * 1024 * 1024


def test_payload_limit_only_applies_in_batch() -> None:
    settings = Settings.from_environ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "50"})
    assert settings.max_body_bytes == 6_291_456


def test_aws_toolkit_default_accept_is_honoured() -> None:
    settings = Settings.from_environ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"})
    assert settings.default_accept == "text/csv"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ({
            "SAGEMAKER_BIND_TO_PORT": "http", "SAGEMAKER_MODEL_SERVER_WORKERS": "0",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "soon", "SAGEMAKER_BATCH": "maybe",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "101", "SAGEMAKER_BATCH_STRATEGY": "ALL",
            "SAGEMAKER_PROGRAM": "../x.py",
        })
    text = str(caught.value)
    for name in ("SAGEMAKER_BIND_TO_PORT", "SAGEMAKER_MODEL_SERVER_WORKERS",
                 "SAGEMAKER_MODEL_SERVER_TIMEOUT", "SAGEMAKER_BATCH",
                 "SAGEMAKER_MAX_PAYLOAD_IN_MB", "SAGEMAKER_BATCH_STRATEGY", "SAGEMAKER_PROGRAM"):
        assert name in text
    assert len(caught.value.problems) == 7


def test_shutdown_grace_never_exceeds_the_timeout() -> None:
    assert Settings.from_environ({"SAGEMAKER_MODEL_SERVER_TIMEOUT": "5"}).shutdown_grace_s == 5
    assert Settings.from_environ({}).shutdown_grace_s == 20


def test_the_constants_module_lists_every_variable() -> None:
    assert len(set(parameters.ALL)) == len(parameters.ALL)
    for name in parameters.ALL:
        assert f"``{name}``" in (parameters.__doc__ or "")


def test_max_payload_0_means_no_fixed_limit_in_batch() -> None:
    settings = Settings.from_environ({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"})
    assert settings.max_body_bytes is None
    assert settings.execution_parameters()["MaxPayloadInMB"] == 0
    real_time = Settings.from_environ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"})
    assert real_time.max_body_bytes == 6_291_456


def test_batch_timeout_defaults_to_600_s_unless_set() -> None:
    assert Settings.from_environ({"SAGEMAKER_BATCH": "true"}).timeout_s == 600
    assert Settings.from_environ({"SAGEMAKER_BATCH": "false"}).timeout_s == 60
    assert Settings.from_environ({}).timeout_s == 60
    assert Settings.from_environ({"SAGEMAKER_BATCH": "true",
                                  "SAGEMAKER_MODEL_SERVER_TIMEOUT": "90"}).timeout_s == 90


def test_asynchronous_payloads_raise_the_real_time_limit_and_timeout() -> None:
    settings = Settings.from_environ({"SAGEPACK_MAX_REQUEST_MB": "1024",
                                      "SAGEPACK_TIMEOUT_S": "3600"})
    assert settings.max_body_bytes == 1024 * 1024 * 1024
    assert settings.timeout_s == 3600
    # The job's own timeout still wins over the image's; batch keeps MaxPayloadInMB.
    assert Settings.from_environ({"SAGEPACK_TIMEOUT_S": "3600",
                                  "SAGEMAKER_MODEL_SERVER_TIMEOUT": "30"}).timeout_s == 30
    batch = Settings.from_environ({"SAGEPACK_MAX_REQUEST_MB": "512", "SAGEMAKER_BATCH": "true",
                                   "SAGEMAKER_MAX_PAYLOAD_IN_MB": "50"})
    assert batch.max_body_bytes == 50 * 1024 * 1024
    assert Settings.from_environ({}).max_body_bytes == 6_291_456


def test_bad_payload_settings_are_named() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_environ({"SAGEPACK_MAX_REQUEST_MB": "2048", "SAGEPACK_TIMEOUT_S": "soon"})
    message = str(caught.value)
    assert "SAGEPACK_MAX_REQUEST_MB" in message and "between 1 and 1024" in message
    assert "SAGEPACK_TIMEOUT_S" in message
