"""Running the example image as SageMaker does, and images broken on purpose."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from containers_helpers import leftovers

from sagepack.compare import response_diffs
from sagepack.config import ModelConfig, Settings
from sagepack.containers import run_transform_job, serving_container
from sagepack.containers.egress import control_probe, egress_target, probe
from sagepack.errors import ContainerError
from sagepack.transform import TransformJob, compare_outputs

pytestmark = [pytest.mark.docker]


def _sample(iris: ModelConfig, name: str) -> Any:
    return next(s for s in iris.samples if s.name == name)


def test_serves_the_sample_without_network_and_cleans_up(
        client: Any, iris_image: str, iris: ModelConfig, iris_model_dir: Path) -> None:
    sample = _sample(iris, "csv")
    with serving_container(client, iris_image, model_dir=iris_model_dir, no_network=True,
                           run_id="sptest-serve") as running:
        assert running.time_to_ready is not None and running.time_to_ready < 60
        assert running.container.attrs["HostConfig"]["NetworkMode"] == "none"
        mounts = running.container.attrs["Mounts"]
        assert [(m["Destination"], m["RW"]) for m in mounts] == [("/opt/ml/model", False)]
        response = requests.post(f"{running.url}/invocations", data=sample.body.read_bytes(),
                                 headers={"Content-Type": "text/csv", "Accept": "text/csv"},
                                 timeout=30)
        assert response.status_code == 200
        assert not response_diffs(response.content, sample.expected.read_bytes(), "text/csv")
        assert running.exec(["touch", "/opt/ml/model/x"]).exit_code != 0  # read-only
        env = running.exec(["env"]).output
        assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert leftovers(client, "sptest-serve") == []


def test_egress_fails_without_network_and_succeeds_on_a_bridge(
        client: Any, iris_image: str, iris_model_dir: Path) -> None:
    with serving_container(client, iris_image, model_dir=iris_model_dir, no_network=True,
                           run_id="sptest-egress") as isolated, \
            egress_target(client, iris_image, isolated.python, run_id="sptest-egress") as target:
        blocked = probe(isolated, target)
        control = control_probe(client, iris_image, isolated.python, target,
                                run_id="sptest-egress")
        # The control can fail too: a port nothing listens on, a name nobody has.
        absent = replace(target, port=target.port + 1, name=f"{target.name}-absent")
        failed_control = control_probe(client, iris_image, isolated.python, absent,
                                       run_id="sptest-egress")
        with serving_container(client, iris_image, model_dir=iris_model_dir, no_network=False,
                               network=target.network, run_id="sptest-egress") as connected:
            open_result = probe(connected, target)
    assert blocked.isolated, blocked.describe()
    assert control.connected and control.resolved, control.describe()
    assert not failed_control.connected and not failed_control.resolved, (
        failed_control.describe())
    assert open_result.connected and open_result.resolved, open_result.describe()
    assert target.address in open_result.dns_detail
    assert leftovers(client, "sptest-egress") == []


def test_published_port_on_loopback_with_network(
        client: Any, iris_image: str, iris_model_dir: Path) -> None:
    with serving_container(client, iris_image, model_dir=iris_model_dir,
                           no_network=False) as running:
        assert running.url.startswith("http://127.0.0.1:")
        assert requests.get(f"{running.url}/ping", timeout=2).status_code == 200
        bindings = running.container.attrs["NetworkSettings"]["Ports"]["8080/tcp"]
        assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}


def test_credentials_are_refused(client: Any, iris_image: str) -> None:
    with pytest.raises(ContainerError, match="AWS_SECRET_ACCESS_KEY"), serving_container(
            client, iris_image, model_dir=None, no_network=True,
            env={"AWS_SECRET_ACCESS_KEY": "x"}):
        pass


# --- broken on purpose -----------------------------------------------------------------


def _start_failure(client: Any, image: str, model_dir: Path | None, run_id: str,
                   deadline_s: float = 60, env: dict[str, str] | None = None) -> ContainerError:
    with pytest.raises(ContainerError) as info, serving_container(
            client, image, model_dir=model_dir, no_network=True, run_id=run_id,
            deadline_s=deadline_s, env=env or {}):
        pass
    assert leftovers(client, run_id) == []
    assert "did not pass the ping health check" not in str(info.value)
    return info.value


def test_missing_serve_is_named(client: Any, iris_image: str, derived_image: Any) -> None:
    image = derived_image(iris_image, 'RUN rm "$(command -v serve)"')
    error = _start_failure(client, image, None, "sptest-noserve")
    assert "`serve` was not found" in error.diagnosis


def test_serve_without_run_bit_is_named(client: Any, iris_image: str,
                                        derived_image: Any) -> None:
    image = derived_image(iris_image, 'RUN chmod a-x "$(command -v serve)"')
    error = _start_failure(client, image, None, "sptest-noexec")
    assert "`serve` is not executable" in error.diagnosis
    assert "chmod" in error.diagnosis


def test_handler_import_error_shows_the_traceback(
        client: Any, iris_image: str, iris_model_dir: Path) -> None:
    handler = iris_model_dir / "code" / "inference.py"
    handler.write_text(handler.read_text() + "\nimport sagepack_no_such_module\n")
    error = _start_failure(client, iris_image, iris_model_dir, "sptest-import")
    assert "could not be imported" in error.diagnosis
    assert "ModuleNotFoundError" in error.diagnosis
    assert "sagepack_no_such_module" in error.diagnosis
    assert "inference.py" in error.diagnosis


def test_model_fn_failure_is_named(client: Any, iris_image: str, iris_model_dir: Path) -> None:
    (iris_model_dir / "model.onnx").unlink()
    error = _start_failure(client, iris_image, iris_model_dir, "sptest-modelfn")
    assert error.diagnosis.startswith("model_fn failed")
    assert "model.onnx" in error.diagnosis


def test_server_exiting_is_named(client: Any, iris_image: str, derived_image: Any) -> None:
    image = derived_image(iris_image, "RUN printf '#!/bin/sh\\necho giving up\\nexit 3\\n' "
                                      '> "$(command -v serve)"')
    error = _start_failure(client, image, None, "sptest-exit")
    assert "exited with code 3" in error.diagnosis
    assert "giving up" in error.diagnosis


def test_port_not_bound_is_named(client: Any, iris_image: str, derived_image: Any) -> None:
    image = derived_image(iris_image, "RUN printf '#!/bin/sh\\nexec sleep 600\\n' "
                                      '> "$(command -v serve)"')
    error = _start_failure(client, image, None, "sptest-noport", deadline_s=3)
    assert "nothing listens on port 8080" in error.diagnosis


def test_wrong_port_is_named(client: Any, iris_image: str, iris_model_dir: Path) -> None:
    # The server honours SAGEMAKER_BIND_TO_PORT; a runner expecting 8080 finds 9191 instead.
    from sagepack.containers import runner

    original = runner.serving_port
    runner.serving_port = lambda env: 8080  # type: ignore[assignment]
    try:
        error = _start_failure(client, iris_image, iris_model_dir, "sptest-wrongport",
                               deadline_s=8, env={"SAGEMAKER_BIND_TO_PORT": "9191"})
    finally:
        runner.serving_port = original
    assert "nothing listens on port 8080" in error.diagnosis
    assert "9191" in error.diagnosis


# --- invoke transform ------------------------------------------------------------------


def test_transform_job_matches_validation(settings: Settings, iris: ModelConfig,
                                          iris_image: str, iris_archive: Path,
                                          tmp_path: Path, monkeypatch: Any) -> None:
    from sagepack.containers import model_dir as model_dir_module

    monkeypatch.setattr(model_dir_module, "archive_path", lambda s, m: iris_archive)
    validation = iris.validation
    assert validation is not None
    job = TransformJob(input=validation.input, output=tmp_path / "out",
                       content_type="text/csv", accept="text/csv", split_type="Line",
                       strategy="MultiRecord", assemble_with="Line")
    report = run_transform_job(settings, iris, iris.variant("cpu"), job, progress=False)
    assert report.ok, report.failures
    assert compare_outputs(tmp_path / "out", validation.expected) == []


def test_transform_job_reports_failed_files(settings: Settings, iris: ModelConfig,
                                            iris_image: str, iris_archive: Path,
                                            tmp_path: Path, monkeypatch: Any) -> None:
    from sagepack.containers import model_dir as model_dir_module

    monkeypatch.setattr(model_dir_module, "archive_path", lambda s, m: iris_archive)
    validation = iris.validation
    assert validation is not None
    inputs = tmp_path / "in"
    shutil.copytree(validation.input, inputs)
    (inputs / "broken.csv").write_text("not,a,number,row\n")
    job = TransformJob(input=inputs, output=tmp_path / "out", content_type="text/csv",
                       accept="text/csv", split_type="Line", retries=0)
    report = run_transform_job(settings, iris, iris.variant("cpu"), job, progress=False)
    assert [f.relative for f in report.failures] == ["broken.csv"]
    assert (tmp_path / "out" / "batch.csv.out").is_file()
    assert not (tmp_path / "out" / "broken.csv.out").exists()
