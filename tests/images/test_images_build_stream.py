"""Following the engine's build stream."""

from __future__ import annotations

import pytest

from sagepack.errors import BuildFailed
from sagepack.images.build_stream import follow


def _stream(*lines: str) -> list[dict[str, object]]:
    return [{"stream": line + "\n"} for line in lines]


def test_steps_cache_hits_and_image_id() -> None:
    chunks = [*_stream("Step 1/3 : FROM base", " ---> 1234",
                       "Step 2/3 : COPY a /a", " ---> Using cache", " ---> 5678",
                       "Step 3/3 : RUN true", " ---> Running in abc", " ---> 9abc"),
              {"aux": {"ID": "sha256:" + "f" * 64}},
              *_stream("Successfully built 9abc")]
    result = follow(chunks, "t:1")
    assert result.image_id == "sha256:" + "f" * 64
    assert [s.cached for s in result.steps] == [False, True, False]
    assert result.cache_hits == 1


def test_an_arg_inside_a_stage_can_hit_the_cache_one_before_the_first_from_cannot() -> None:
    chunks = [*_stream("Step 1/5 : ARG BASE=base", "Step 2/5 : FROM ${BASE} AS builder",
                       " ---> 1234", "Step 3/5 : ARG TARGET=", " ---> Using cache",
                       " ---> 2345aaaabbbb", "Step 4/5 : FROM base", " ---> 1234",
                       "Step 5/5 : COPY --from=builder /a /a", " ---> Using cache",
                       " ---> 3456"),
              *_stream("Successfully built 3456789abcde")]
    result = follow(chunks, "t:1")
    assert (result.cache_hits, result.cacheable_steps) == (2, 2)
    assert result.stage_images == ("2345aaaabbbb",)


def test_error_chunk_names_the_failing_step_with_its_log_tail() -> None:
    chunks = [*_stream("Step 1/2 : FROM base", " ---> 1234",
                       "Step 2/2 : RUN pip install x", " ---> Running in abc",
                       "ERROR: No matching distribution found for x"),
              {"error": "The command '/bin/sh -c pip install x' returned a non-zero code: 1",
               "errorDetail": {"code": 1, "message": "returned a non-zero code: 1"}},
              *_stream("this line never comes")]
    with pytest.raises(BuildFailed) as info:
        follow(chunks, "t:1")
    assert info.value.step == "RUN pip install x"
    assert "step 2/2" in str(info.value)
    assert any("No matching distribution" in line for line in info.value.log_tail)
    assert "No matching distribution found for x" in str(info.value)  # shown to the user


def test_a_stream_that_ends_without_an_image_is_a_failure() -> None:
    with pytest.raises(BuildFailed, match="without an image id"):
        follow(_stream("Step 1/1 : FROM base"), "t:1")
