"""``invoke bench --what package``: sagepack's packer against GNU ``tar -czf``, same run."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sagepack import archive
from sagepack.files import file_sha256, write_json
from sagepack.progress import say, table

MIB = 1024 * 1024


def make_weights(folder: Path, total_mib: int = 1024, seed: int = 0) -> int:
    """A folder of weight-like files: mostly random bytes (trained float weights barely
    compress), plus a compressible part (zero padding, repeated embeddings, a text vocab)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shard_mib = 128
    shards = max(1, total_mib // shard_mib)
    written = 0
    for i in range(shards):
        random_part = rng.standard_normal(shard_mib * MIB * 3 // 16, dtype=np.float32)
        structured = np.repeat(rng.standard_normal(1024, dtype=np.float32),
                               shard_mib * MIB // 16 // 1024)
        with (folder / f"model-{i:05d}-of-{shards:05d}.bin").open("wb") as fh:
            fh.write(random_part.tobytes())
            fh.write(structured.tobytes())
            written += random_part.nbytes + structured.nbytes
    vocab = "".join(f"token_{i}\t{i}\n" for i in range(200_000))
    (folder / "vocab.txt").write_text(vocab)
    (folder / "code").mkdir(exist_ok=True)
    (folder / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    return written + len(vocab)


def bench_package(out: Path, *, size_mib: int = 1024, workdir: Path | None = None,
                  keep: bool = False) -> dict[str, Any]:
    """Pack a generated folder with sagepack and with ``tar -czf``; report times, sizes,
    ratios; write ``out`` (JSON)."""
    tar = shutil.which("tar")
    if tar is None:
        raise FileNotFoundError("GNU tar is needed for the baseline")
    base = Path(tempfile.mkdtemp(prefix="sagepack-bench-", dir=workdir))
    try:
        src = base / "model"
        say(f"generating {size_mib} MiB of weight-like files in {src}")
        bytes_in = make_weights(src, size_mib)
        members = archive.collect(src)

        # Warm the page cache equally for both contenders.
        for m in members:
            if m.kind == "file":
                with m.path.open("rb") as fh:
                    while fh.read(archive.CHUNK):
                        pass

        ours = base / "sagepack.tar.gz"
        started = time.perf_counter()
        archive.write_archive(members, ours)
        file_sha256(ours)  # the manifest's archive checksum is part of the job
        ours_s = time.perf_counter() - started

        theirs = base / "gnu.tar.gz"
        started = time.perf_counter()
        subprocess.run([tar, "-czf", str(theirs), "-C", str(src), "."], check=True)
        theirs_s = time.perf_counter() - started

        # Both must be standard gzip'd tars that GNU tar lists.
        subprocess.run([tar, "-tzf", str(ours)], check=True, stdout=subprocess.DEVNULL)

        result: dict[str, Any] = {
            "what": "package",
            "input_bytes": bytes_in,
            "files": sum(1 for m in members if m.kind == "file"),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "sagepack": {"seconds": round(ours_s, 3), "bytes": ours.stat().st_size},
            "tar_czf": {"seconds": round(theirs_s, 3), "bytes": theirs.stat().st_size},
        }
        result["speedup"] = round(theirs_s / ours_s, 2)
        result["size_ratio"] = round(ours.stat().st_size / theirs.stat().st_size, 4)
        result["goals"] = {"speedup_at_least_3x": result["speedup"] >= 3.0,
                           "size_at_most_5pct_larger": result["size_ratio"] <= 1.05}
        write_json(out, result)
        table(f"package benchmark ({bytes_in / MIB:.0f} MiB in)",
              ["tool", "seconds", "MiB out", "MiB/s"],
              [["sagepack", f"{ours_s:.2f}", f"{ours.stat().st_size / MIB:.1f}",
                f"{bytes_in / MIB / ours_s:.0f}"],
               ["tar -czf", f"{theirs_s:.2f}", f"{theirs.stat().st_size / MIB:.1f}",
                f"{bytes_in / MIB / theirs_s:.0f}"]])
        say(f"speed-up {result['speedup']}x, size ratio {result['size_ratio']} -> {out}")
        return result
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
