"""Publishing: images to ECR, archives to S3, and optionally a SageMaker model package.

``publish(settings, models, variants, dry_run=..., force=...)`` is the one entry point;
see :mod:`sagepack.publish.publisher`.

What lives here: the plan, ECR pushes, S3 uploads with checksums, model packages, the
publish report and its progress, and a local AWS (moto) for tests. What must not: building
or testing images (it publishes what :mod:`sagepack.images` built, as it is).
"""

from __future__ import annotations

from sagepack.publish.checksums import UploadSettings
from sagepack.publish.plan import PublishPlan, make_plan
from sagepack.publish.publisher import Gates, publish
from sagepack.publish.report import PublishReport
from sagepack.publish.validation import package_status

__all__ = ["Gates", "PublishPlan", "PublishReport", "UploadSettings", "make_plan",
           "package_status", "publish"]
