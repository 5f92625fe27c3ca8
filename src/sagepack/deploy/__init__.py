"""From a published model to a running SageMaker endpoint, and back.

    from sagepack.deploy import deploy, undeploy
    report = deploy(settings, settings.models["iris"], "cpu", wait=True)

:mod:`~sagepack.deploy.plan` works out every resource and parameter from configuration
and ``publish.json``; :mod:`~sagepack.deploy.endpoint` creates or updates them;
:mod:`~sagepack.deploy.wait` follows them; :mod:`~sagepack.deploy.samples` tries the
model's samples; :mod:`~sagepack.deploy.undeploy` removes what deploy made.
"""

from sagepack.deploy.deployer import DeployReport, deploy, plan_deploy, undeploy

__all__ = ["DeployReport", "deploy", "plan_deploy", "undeploy"]
