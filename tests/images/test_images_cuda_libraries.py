"""The cuda-libraries build check read from what its probe found in the image."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sagepack.images import checks


def _found(monkeypatch: pytest.MonkeyPatch, frameworks: dict[str, list[str]],
           missing: dict[str, list[str]], checked: int = 40) -> None:
    report = {"frameworks": frameworks, "checked": checked, "missing": missing}

    def run(client: Any, image: str, argv: list[str], timeout: int = 0, **kw: Any
            ) -> tuple[int, str]:
        return 0, json.dumps(report) + "\n"
    monkeypatch.setattr(checks, "run_in_image", run)


TORCH = {"torch": ["libc10_cuda.so", "libtorch_cuda.so"]}


def test_an_image_without_a_cuda_build_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    _found(monkeypatch, {}, {})
    result = checks.check_cuda_libraries(None, "img")  # type: ignore[arg-type]
    assert result.failed and "no framework built for CUDA in the image" in result.detail


def test_fabric_plugins_may_lack_their_fabric_but_nothing_else_may(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fabric = {"libfabric.so.1": ["nvshmem_transport_libfabric.so.3"],
              "libibverbs.so.1": ["libcufile_rdma.so.1"],
              "libmpi.so.40": ["nvshmem_bootstrap_mpi.so.3"],
              "libcuda.so.1": ["libtorch_cuda.so"]}
    _found(monkeypatch, TORCH, fabric)
    result = checks.check_cuda_libraries(None, "img")  # type: ignore[arg-type]
    assert result.passed, result.detail
    assert "3 multi-node fabric plugins need their fabric's host libraries" in result.detail
    assert result.detail.endswith("CUDA builds: torch (libc10_cuda.so, libtorch_cuda.so)")

    _found(monkeypatch, TORCH, {**fabric, "libibverbs.so.1": ["libcufile_rdma.so.1",
                                                              "libtorch_cuda.so"]})
    result = checks.check_cuda_libraries(None, "img")  # type: ignore[arg-type]
    assert result.failed
    assert result.detail == ("unresolved shared libraries: libibverbs.so.1 (needed by "
                             "libcufile_rdma.so.1, libtorch_cuda.so)")
