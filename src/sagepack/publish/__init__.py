"""Publishing: images to ECR, archives to S3, and optionally a SageMaker model package.

``publish(settings, models, variants, dry_run=..., force=...)`` is the one entry point;
see :mod:`sagepack.publish.publisher`.
"""

from __future__ import annotations

from sagepack.publish.checksums import UploadSettings
from sagepack.publish.plan import PublishPlan, make_plan
from sagepack.publish.publisher import Gates, publish
from sagepack.publish.report import PublishReport
from sagepack.publish.validation import package_status

__all__ = ["Gates", "PublishPlan", "PublishReport", "UploadSettings", "make_plan",
           "package_status", "publish"]
