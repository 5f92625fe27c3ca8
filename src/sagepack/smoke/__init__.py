"""The image test suite behind ``invoke test``: a pytest suite (with pytest-docker) that
checks a built image against SageMaker's contract, and the code that runs it."""

from sagepack.checks import CheckResult
from sagepack.smoke.report import SmokeReport
from sagepack.smoke.runner import run_all, run_image_tests

__all__ = ["CheckResult", "SmokeReport", "run_all", "run_image_tests"]
