"""``invoke bench``: run one or every benchmark; each writes ``<out>/<what>.json``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from sagepack.config import Settings
from sagepack.errors import SagepackError

# The latency-sensitive serving benchmarks run first, before the disk-heavy ones.
BENCHMARKS = ("serve", "stream", "mme", "package", "build", "transform")


def run_benchmarks(settings: Settings, what: str, out: Path, *,
                   size_mib: int = 1024) -> dict[str, Any]:
    chosen = BENCHMARKS if what == "all" else (what,)
    unknown = [w for w in chosen if w not in BENCHMARKS]
    if unknown:
        raise SagepackError(f"unknown benchmark {unknown[0]!r}: choose from "
                            f"{', '.join(BENCHMARKS)} or all")
    results: dict[str, Any] = {}
    for name in chosen:
        target = out / f"{name}.json"
        if name == "package":
            from sagepack.bench.package import bench_package

            results[name] = bench_package(target, size_mib=size_mib)
            os.sync()  # let the gigabyte just written and deleted settle before what follows
        elif name == "serve":
            from sagepack.bench.serve import bench_serve

            results[name] = bench_serve(settings.select("iris")[0].root, target)
        elif name == "stream":
            from sagepack.bench.stream import bench_stream

            results[name] = bench_stream(target)
        elif name == "mme":
            from sagepack.bench.mme import bench_mme_of

            results[name] = bench_mme_of(settings.select("iris")[0], target)
        elif name == "build":
            from sagepack.bench.build import bench_build

            results[name] = bench_build(settings, target)
        else:
            from sagepack.bench.transform import bench_transform
            from sagepack.containers import model_container
            from sagepack.containers.contract import batch_env

            iris = settings.select("iris")[0]
            with tempfile.TemporaryDirectory(prefix="sagepack-bench-transform-") as work, \
                    model_container(settings, iris, iris.variant("cpu"), no_network=False,
                                    env=batch_env()) as running:
                results[name] = bench_transform(running.url, Path(work), target, size_mb=200)
    return results
