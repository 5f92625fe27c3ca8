"""Batch transform emulation: SageMaker's batch transform job, run on local files against a
container's HTTP endpoint.

    from sagepack.transform import TransformJob, run_transform
    report = run_transform(TransformJob(input=Path("data"), output=Path("out"),
                                        content_type="text/csv", split_type="Line"),
                           "http://127.0.0.1:8080")
    report.raise_for_failures()

What lives here: the job's parameters, splitting and batching records, the HTTP client,
output joining and filters, progress and the report. What must not: starting the container
(``invoke transform`` does that in :mod:`sagepack.containers.transform`); this package
talks to any endpoint URL and imports no Docker.
"""

from sagepack.transform.compare import compare_outputs
from sagepack.transform.job import list_inputs, run_transform
from sagepack.transform.params import ExecutionParameters, JobParameters, TransformJob
from sagepack.transform.report import FileResult, TransformReport

__all__ = [
    "ExecutionParameters",
    "FileResult",
    "JobParameters",
    "TransformJob",
    "TransformReport",
    "compare_outputs",
    "list_inputs",
    "run_transform",
]
