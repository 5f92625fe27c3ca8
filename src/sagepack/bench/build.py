"""``invoke bench --what build``: sagepack's image build against the naive recipe, same run.

Measured on a copy of the example model in baked mode (the model inside the image), CPU
variant, tagged ``sagepack-bench/<model>``:

1. a cold build (``no_cache``: every step runs; the base image and the wheelhouse are
   reused when present, and the time to make them is reported apart);
2. a rebuild after touching only ``code/inference.py``;
3. a rebuild after changing only the weights (the ONNX file's doc string);
4. the size of the image against the seed's naive recipe on the same base, which is run
   once to prove it works (:mod:`sagepack.bench.naive`); when it does not, the size
   comparison is reported invalid.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound

from sagepack.bench import naive as naive_recipe
from sagepack.config import ModelConfig, Settings
from sagepack.errors import SagepackError
from sagepack.files import write_json
from sagepack.images.base import ensure_base
from sagepack.images.build import BuildResult, build
from sagepack.images.docker_client import docker_client
from sagepack.images.environment import BuildEnvironment
from sagepack.progress import say, table

GOALS = {"rebuild_seconds_max": 15.0, "size_ratio_max": 0.5}
BENCH_REPOSITORY = "sagepack-bench/{model}"


def _bench_copy(settings: Settings, model: ModelConfig, work: Path) -> tuple[Settings,
                                                                            ModelConfig]:
    """The model copied under ``work``, baked, tagged under sagepack-bench."""
    root = work / model.name
    shutil.copytree(model.root, root, ignore=shutil.ignore_patterns("__pycache__"))
    copy = replace(model, root=root, config_file=root / model.config_file.name,
                   artifact_mode="baked")
    project = replace(settings.project, ecr_repository=BENCH_REPOSITORY,
                      dist_dir=work / "dist")
    return replace(settings, project=project, models={model.name: copy}), copy


def _touch_code(model: ModelConfig) -> None:
    handler = model.root / model.handler
    with handler.open("a", encoding="utf-8") as fh:
        fh.write(f"# touched by the build benchmark at {time.time():.6f}\n")


def _change_weights(model: ModelConfig) -> Path:
    """Change the ONNX file's doc string: new weights bytes, same behaviour."""
    try:
        import onnx
    except ImportError as exc:
        raise SagepackError(f"the build benchmark needs onnx (dev extra): {exc}") from exc
    files = sorted(model.root.glob("*.onnx"))
    if not files:
        raise SagepackError(f"no .onnx weights in {model.root} to change")
    proto = onnx.load(str(files[0]))
    proto.doc_string = f"changed by the build benchmark at {time.time():.6f}"
    onnx.save(proto, str(files[0]))
    return files[0]


def _summary(result: BuildResult) -> dict[str, Any]:
    return {"seconds": round(result.seconds, 2), "image_id": result.image_id,
            "size": result.size, "cache_hits": result.cache_hits,
            "cacheable_steps": result.cacheable_steps, "tags": list(result.tags)}


def _cleanup(client: docker.DockerClient, refs: list[str]) -> None:
    for ref in refs:
        try:
            client.images.remove(ref, force=True)
        except ImageNotFound:
            continue
        except APIError as exc:
            if exc.status_code != 409:  # still a parent of someone's image: leave it
                raise


def bench_build(settings: Settings, out: Path, *, model_name: str = "iris",
                keep_images: bool = False) -> dict[str, Any]:
    """Cold build, code-only and weights-only rebuilds, size against the naive recipe;
    print a table and write ``out`` (JSON, through a temporary name)."""
    client = docker_client()
    env = BuildEnvironment.from_project(settings.project)
    model = settings.select(model_name)[0]
    created: list[str] = []
    stages: list[str] = []
    bases: dict[str, float] = {}
    base = model.variant("cpu").base_image
    started = time.monotonic()
    ensure_base(client, base, mirror=env.debian_mirror,
                security_mirror=env.debian_security_mirror, log=say)
    bases[base] = round(time.monotonic() - started, 2)
    with tempfile.TemporaryDirectory(prefix="sagepack-bench-build-") as tmp:
        work = Path(tmp)
        bench_settings, copy = _bench_copy(settings, model, work)
        try:
            say("cold build (no cache)")
            cold = build(bench_settings, copy, "cpu", no_cache=True, client=client, env=env)
            created += [*cold.tags, cold.image_id]
            stages = list(cold.stage_images)
            say("rebuild after touching only the handler code")
            _touch_code(copy)
            code = build(bench_settings, copy, "cpu", client=client, env=env)
            created.append(code.image_id)
            say("rebuild after changing only the weights")
            _change_weights(copy)
            weights = build(bench_settings, copy, "cpu", client=client, env=env)
            created.append(weights.image_id)
            say(f"naive recipe (single stage, pip and Flask on {base})")
            packages = naive_recipe.requirements(copy)
            wheels = naive_recipe.wheelhouse(packages, env.wheelhouse_dir)
            naive = naive_recipe.build_naive(client, copy, base, wheels, packages, work)
            created.append(naive["image_id"])
            say("running the naive image once: /ping and one sample")
            naive["run"] = naive_recipe.prove_it_works(client, naive["tag"], copy)
        finally:
            if not keep_images:
                _cleanup(client, [*created, *stages])
    works = naive["run"]["works"]
    ratio = weights.size / naive["size_without_wheel_copy"]
    report: dict[str, Any] = {
        "model": model.name,
        "variant": "cpu",
        "artifact_mode": "baked",
        "base_images_seconds": bases,
        "cold": _summary(cold),
        "code_only_rebuild": _summary(code),
        "weights_only_rebuild": _summary(weights),
        "naive": naive,
        "size_ratio": round(ratio, 3) if works else None,
        "size_comparison_valid": works,
        "goals": GOALS,
        "goals_met": {
            "code_rebuild_under_15s": code.seconds < GOALS["rebuild_seconds_max"],
            "weights_rebuild_under_15s": weights.seconds < GOALS["rebuild_seconds_max"],
            "size_at_most_half_of_naive": works and ratio <= GOALS["size_ratio_max"],
        },
    }
    write_json(out, report)
    mb = 1e6
    table(f"build benchmark: {model.name} cpu, baked", ("measure", "value", "goal"), [
        ("cold build (no cache)", f"{cold.seconds:.1f} s", ""),
        ("rebuild, code only", f"{code.seconds:.1f} s "
                               f"({code.cache_hits}/{code.cacheable_steps} cached)", "< 15 s"),
        ("rebuild, weights only", f"{weights.seconds:.1f} s "
                                  f"({weights.cache_hits}/{weights.cacheable_steps} cached)",
         "< 15 s"),
        ("sagepack image", f"{weights.size / mb:.0f} MB", ""),
        ("naive image", f"{naive['size'] / mb:.0f} MB "
                        f"({naive['size_without_wheel_copy'] / mb:.0f} MB without the wheel "
                        "copy)", ""),
        ("naive image works", "yes" if works else f"NO: {naive['run']['problem']}", ""),
        ("size ratio", f"{ratio:.2f}" if works else "INVALID (the naive image does not work)",
         "<= 0.50"),
    ])
    say(f"report: {out}")
    return report
