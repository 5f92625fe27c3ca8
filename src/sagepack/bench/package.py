"""``invoke bench --what package``: sagepack's packer against ``tar | pigz`` and GNU
``tar -czf``, same run, same folder, page cache warmed for all.

``tar | pigz -p N`` is the strongest common baseline: parallel gzip (level 6, its default)
with the same N compression threads sagepack uses. sagepack's time includes what a package
needs beyond the archive: the sha256 of every file (for the manifest) and of the archive,
which it computes while writing.
Every archive must list with GNU tar and hold the same files.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sagepack import archive
from sagepack.bench.probes import machine_busy_pct
from sagepack.errors import SagepackError
from sagepack.files import write_json
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


def _tar_pigz(tar: str, pigz: str, src: Path, dest: Path, threads: int) -> None:
    """``tar -cf - -C src . | pigz -p threads > dest``, failing on either side's error."""
    with dest.open("wb") as fh:
        producer = subprocess.Popen([tar, "-cf", "-", "-C", str(src), "."],
                                    stdout=subprocess.PIPE)
        assert producer.stdout is not None
        compressor = subprocess.Popen([pigz, "-p", str(threads)], stdin=producer.stdout,
                                      stdout=fh)
        producer.stdout.close()
        codes = compressor.wait(), producer.wait()
    if any(codes):
        raise SagepackError(f"tar | pigz failed (pigz exit {codes[0]}, tar exit {codes[1]})")


def _listed(tar: str, archive_path: Path) -> set[str]:
    """The regular files GNU tar lists in ``archive_path``, without a leading ``./``."""
    proc = subprocess.run([tar, "-tvzf", str(archive_path)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SagepackError(f"GNU tar cannot list {archive_path}: {proc.stderr.strip()}")
    return {line.split(maxsplit=5)[5].removeprefix("./") for line in proc.stdout.splitlines()
            if line.startswith("-")}


def _timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def bench_package(out: Path, *, size_mib: int = 1024, workdir: Path | None = None,
                  keep: bool = False) -> dict[str, Any]:
    """Pack a generated folder with sagepack, ``tar | pigz`` and ``tar -czf``; report times,
    sizes, ratios and goals; write ``out`` (JSON)."""
    tar, pigz = shutil.which("tar"), shutil.which("pigz")
    if tar is None or pigz is None:
        raise SagepackError("GNU tar and pigz are needed for the baselines "
                            "(Debian packages tar, pigz; scripts/bootstrap.sh installs them)")
    threads = max(1, min(4, os.cpu_count() or 1))  # what sagepack packs with by default
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

        load_before = [round(v, 2) for v in os.getloadavg()]
        busy_before = machine_busy_pct()
        ours = base / "sagepack.tar.gz"
        # The archive's and every file's sha256 (the manifest's) are computed while writing.
        ours_s = _timed(lambda: archive.write_archive(members, ours, threads=threads))
        pigz_out = base / "pigz.tar.gz"
        pigz_s = _timed(lambda: _tar_pigz(tar, pigz, src, pigz_out, threads))
        gnu = base / "gnu.tar.gz"
        gnu_s = _timed(lambda: subprocess.run([tar, "-czf", str(gnu), "-C", str(src), "."],
                                              check=True))
        # The report's ratios are those of the seconds it reports.
        ours_s, pigz_s, gnu_s = (round(s, 4) for s in (ours_s, pigz_s, gnu_s))
        files = {m.name for m in members if m.kind == "file"}
        for made in (ours, pigz_out, gnu):
            if _listed(tar, made) != files:
                raise SagepackError(f"{made.name} does not hold the {len(files)} files of {src}")
        sizes = {"sagepack": ours.stat().st_size, "pigz": pigz_out.stat().st_size,
                 "gnu": gnu.stat().st_size}
        result: dict[str, Any] = {
            "what": "package",
            "input_bytes": bytes_in,
            "files": len(files),
            "cpus": os.cpu_count(),
            "threads": threads,
            "machine": platform.machine(),
            "load_before": load_before,
            "cpu_busy_before_pct": busy_before,
            "load_after": [round(v, 2) for v in os.getloadavg()],
            "sagepack": {"seconds": ours_s, "bytes": sizes["sagepack"]},
            "tar_pigz": {"seconds": pigz_s, "bytes": sizes["pigz"],
                         "command": f"tar -cf - -C <folder> . | pigz -p {threads}"},
            "tar_czf": {"seconds": gnu_s, "bytes": sizes["gnu"]},
            "vs_pigz": {"speedup": round(pigz_s / ours_s, 2),
                        "size_ratio": round(sizes["sagepack"] / sizes["pigz"], 4)},
            "vs_tar_czf": {"speedup": round(gnu_s / ours_s, 2),
                           "size_ratio": round(sizes["sagepack"] / sizes["gnu"], 4)},
        }
        result["goals"] = {
            "speedup_vs_pigz_at_least_2.5x": result["vs_pigz"]["speedup"] >= 2.5,
            "size_within_1pct_of_pigz": result["vs_pigz"]["size_ratio"] <= 1.01,
            "speedup_vs_tar_czf_at_least_3x": result["vs_tar_czf"]["speedup"] >= 3.0,
            "size_within_5pct_of_tar_czf": result["vs_tar_czf"]["size_ratio"] <= 1.05,
        }
        write_json(out, result)
        table(f"package benchmark ({bytes_in / MIB:.0f} MiB in, {threads} threads)",
              ["tool", "seconds", "MiB out", "MiB/s", "sagepack speed-up"],
              [[name, f"{seconds:.2f}", f"{size / MIB:.1f}", f"{bytes_in / MIB / seconds:.0f}",
                f"{ours_s and seconds / ours_s:.2f}x"]
               for name, seconds, size in (("sagepack", ours_s, sizes["sagepack"]),
                                           (f"tar | pigz -p {threads}", pigz_s, sizes["pigz"]),
                                           ("tar -czf", gnu_s, sizes["gnu"]))])
        table("package goals", ["goal", "met"],
              [[name, "MET" if met else "MISSED"] for name, met in result["goals"].items()])
        say(f"report: {out}")
        return result
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
