"""Diagnosis of containers that do not come up, from their state and logs (no Docker)."""

from __future__ import annotations

from sagepack.containers.diagnosis import (
    Evidence,
    diagnose,
    handler_failure,
    last_traceback,
    parse_listening,
)

IMPORT_LOGS = """\
2026-01-01 INFO serving: model dir /opt/ml/model
2026-01-01 ERROR model not loaded: importing handler failed
Traceback (most recent call last):
  File "/opt/sagepack/sagepack/serving/handler.py", line 97, in load
    spec.loader.exec_module(module)
  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed
  File "/opt/ml/model/code/inference.py", line 3, in <module>
    import torchvision
ModuleNotFoundError: No module named 'torchvision'
2026-01-01 INFO "GET /ping" 503
"""

MODEL_FN_LOGS = """\
Traceback (most recent call last):
  File "/opt/ml/model/code/inference.py", line 45, in model_fn
    session = ort.InferenceSession(path)
onnxruntime.capi.NoSuchFile: Load model from /opt/ml/model/model.onnx failed

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/opt/sagepack/sagepack/serving/handler.py", line 146, in load_model
    model = self.model_fn(context, str(model_dir))
sagepack.errors.InferenceError: 500: model_fn raised NoSuchFile
"""


def test_missing_serve() -> None:
    e = Evidence(image="x", status="created", exit_code=127, engine_error=(
        'OCI runtime create failed: exec: "serve": executable file not found in $PATH'))
    assert diagnose(e).startswith("`serve` was not found")


def test_serve_without_run_bit() -> None:
    e = Evidence(image="x", status="created", exit_code=127,
                 engine_error='exec: "serve": executable file not found in $PATH',
                 serve_files={"/usr/local/bin/serve": 0o100644})
    text = diagnose(e)
    assert text.startswith("`serve` is not executable")
    assert "/usr/local/bin/serve (mode 0644)" in text


def test_import_error_names_module_file_and_keeps_traceback() -> None:
    text = diagnose(Evidence(image="x", status="running", logs=IMPORT_LOGS,
                             timed_out_after=240))
    assert text.startswith("the handler module could not be imported in "
                           "/opt/ml/model/code/inference.py: ModuleNotFoundError")
    assert "import torchvision" in text
    assert handler_failure(IMPORT_LOGS) is not None


def test_model_fn_failure_reports_the_original_cause() -> None:
    text = diagnose(Evidence(image="x", status="running", logs=MODEL_FN_LOGS))
    assert text.startswith("model_fn failed while loading the model: "
                           "onnxruntime.capi.NoSuchFile")
    tb = last_traceback(MODEL_FN_LOGS)
    assert tb is not None and "The above exception" in tb


def test_out_of_memory() -> None:
    e = Evidence(image="x", status="exited", exit_code=137, oom_killed=True, logs="loading")
    assert "too much memory" in diagnose(e)


def test_server_exits() -> None:
    e = Evidence(image="x", status="exited", exit_code=0, logs="done\n")
    assert "exited with code 0" in diagnose(e) and "done" in diagnose(e)


def test_port_not_bound_lists_what_listens() -> None:
    e = Evidence(image="x", status="running", port=8080, listening=frozenset({5000}),
                 timed_out_after=240, last_ping="ConnectionError: refused")
    assert diagnose(e).startswith("nothing listens on port 8080 after 240 s")
    assert "5000" in diagnose(e)


def test_ping_never_200() -> None:
    e = Evidence(image="x", status="running", listening=frozenset({8080}),
                 timed_out_after=240, last_ping="HTTP 503: loading")
    assert "/ping never answered 200" in diagnose(e) and "HTTP 503" in diagnose(e)


def test_ping_too_slow() -> None:
    e = Evidence(image="x", status="running", listening=frozenset({8080}),
                 timed_out_after=240, last_ping="no answer within 2 s")
    assert "did not answer within 240 s" in diagnose(e)


def test_no_traceback_is_not_a_handler_failure() -> None:
    assert handler_failure("INFO all good\n") is None


def test_parse_listening() -> None:
    text = """\
  sl  local_address rem_address   st tx_queue rx_queue
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000
   1: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000
   0: 00000000000000000000000000000000:2382 00000000000000000000000000000000:0000 0A
"""
    assert parse_listening(text) == frozenset({8080, 9090})
