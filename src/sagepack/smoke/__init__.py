"""The image test suite behind ``invoke test``: a pytest suite (with pytest-docker) that
checks a built image against SageMaker's contract, and the code that runs it.

What lives here: the suite (:mod:`.suite`), its plugin and compose file, the probes it
sends, and its report. What must not: how a container is started or what environment it
gets (that is :mod:`sagepack.containers.launch` and :mod:`sagepack.containers.contract`,
which the compose file is rendered from).
"""

from sagepack.checks import CheckResult
from sagepack.smoke.report import SmokeReport
from sagepack.smoke.runner import run_all, run_image_tests

__all__ = ["CheckResult", "SmokeReport", "run_all", "run_image_tests"]
