"""The no-secret check's detector (the Docker test runs it on a real image)."""

from __future__ import annotations

import pytest

from sagepack.images.checks import find_secrets

FAKE_AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"


@pytest.mark.parametrize("env", [
    [f"MY_KEY={FAKE_AWS_KEY}"],
    ["AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
    ["HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz0123456789"],
    ["DB_PASSWORD=hunter22"],
    ["NOTE=ghp_" + "a" * 36],
])
def test_secret_shaped_env_is_found_and_redacted(env: list[str]) -> None:
    found = find_secrets(env, [])
    assert len(found) == 1
    assert env[0].split("=", 1)[0] in found[0]
    assert env[0].split("=", 1)[1] not in found[0]


def test_secret_in_history_is_found() -> None:
    found = find_secrets([], ["/bin/sh -c #(nop) ENV PATH=/bin",
                              f"/bin/sh -c export AWS_ACCESS_KEY_ID={FAKE_AWS_KEY} && true"])
    assert len(found) == 1
    assert found[0].startswith("history entry 1")


def test_ordinary_image_env_is_clean() -> None:
    env = ["PATH=/opt/venv/bin:/usr/bin", "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
           "SAGEMAKER_PROGRAM=inference.py", "SAGEPACK_MAX_PAYLOAD_IN_MB=6",
           "LD_LIBRARY_PATH=/opt/venv/lib/python3.11/site-packages/nvidia/cu13/lib"]
    history = ["/bin/sh -c #(nop) COPY dir:abc in /opt/venv",
               "/bin/sh -c #(nop)  LABEL org.opencontainers.image.revision=3eb36fed2797"]
    assert find_secrets(env, history) == []


def test_history_snippet_is_redacted_too() -> None:
    found = find_secrets([], [f"/bin/sh -c #(nop)  ENV LEAKED={FAKE_AWS_KEY}"])
    assert len(found) == 1
    assert FAKE_AWS_KEY not in found[0]
    assert "ENV LEAKED=AKIA…" in found[0]
