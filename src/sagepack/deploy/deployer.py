"""``deploy`` and ``undeploy``: plan, check, create or update, wait, try the samples.

The plan and every size limit are worked out before anything is sent; ``dry_run`` prints
them and stops. ``wait`` follows the endpoint to ``InService`` and then sends the model's
samples; a failed endpoint is reported with its ``FailureReason`` and the CloudWatch log
group its container writes to. Once the endpoint is known to run the planned config (and
no sample failed), the configs and models it ran before are deleted
(:mod:`~sagepack.deploy.superseded`); until then they are kept, for a rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from sagepack.config import ModelConfig, Settings
from sagepack.deploy import endpoint, samples, superseded
from sagepack.deploy.endpoint import Step
from sagepack.deploy.limits import check_limits
from sagepack.deploy.plan import DeployPlan, make_plan, resource_name
from sagepack.deploy.published import read_release
from sagepack.deploy.report import print_plan, print_steps
from sagepack.deploy.samples import FAILED, INCONCLUSIVE, SampleResult
from sagepack.deploy.undeploy import undeploy as delete_endpoint
from sagepack.deploy.wait import follow
from sagepack.errors import DeployError, DockerUnavailable
from sagepack.publish.aws import aws_errors


@dataclass
class DeployReport:
    plan: DeployPlan
    dry_run: bool
    steps: list[Step] = field(default_factory=list)
    status: str | None = None
    samples: list[SampleResult] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(s.action != "kept" for s in self.steps)


def clients(region: str, session: Any | None = None) -> tuple[Any, Any]:
    """SageMaker and SageMaker runtime clients from boto3's standard chain."""
    import boto3
    from botocore.config import Config

    session = session or boto3.Session(region_name=region)
    config = Config(user_agent_extra="sagepack-deploy")
    return (session.client("sagemaker", region_name=region, config=config),
            session.client("sagemaker-runtime", region_name=region, config=config))




def _docker() -> Any | None:
    from sagepack.images.docker_client import docker_client

    try:
        return docker_client()
    except DockerUnavailable:
        return None


def plan_deploy(settings: Settings, model: ModelConfig, variant: str,
                docker: Any | None = None) -> tuple[DeployPlan, list[str]]:
    """The plan of a deploy and what was checked about it (nothing remote is touched)."""
    plan = make_plan(settings, model, model.variant(variant),
                     read_release(settings, model, model.variant(variant)))
    if plan.serverless and docker is None:
        docker = _docker()
    return plan, check_limits(plan, docker)


def deploy(settings: Settings, model: ModelConfig, variant: str = "cpu", *,
           dry_run: bool = False, wait: bool = False, console: Console | None = None,
           session: Any | None = None, docker: Any | None = None) -> DeployReport:
    """Deploy ``model``'s ``variant`` as published; ``wait`` for it and try the samples."""
    if console is None:
        from sagepack.progress import console as default_console

        console = default_console()
    plan, notes = plan_deploy(settings, model, variant, docker)
    print_plan(console, plan, notes)
    report = DeployReport(plan=plan, dry_run=dry_run)
    if dry_run:
        console.print("dry run: nothing was created or changed")
        return report
    sm, runtime = clients(plan.region, session)
    with aws_errors(DeployError):
        report.steps = endpoint.apply(sm, plan, console)
        if wait:
            _wait(sm, runtime, plan, report, console)
        _clean_up(sm, plan, report, console, wait=wait)
    print_steps(console, report.steps, report.samples)
    _raise_for_samples(report)
    return report


def _wait(sm: Any, runtime: Any, plan: DeployPlan, report: DeployReport,
          console: Console) -> None:
    d = plan.model.deploy
    settled = follow(lambda: sm.describe_endpoint(EndpointName=plan.endpoint_name),
                     what=f"endpoint {plan.endpoint_name}", status_key="EndpointStatus",
                     done=("InService",), failed=("Failed", "OutOfService"),
                     timeout_s=d.wait_timeout_s, interval_s=d.poll_interval_s,
                     console=console)
    report.status = settled.status
    if settled.status != "InService":
        reason = settled.description.get("FailureReason") or "no FailureReason given"
        raise DeployError(f"endpoint {plan.endpoint_name} is {settled.status}: {reason}; the "
                          f"container's log is in CloudWatch log group {plan.log_group}")
    current = settled.description.get("EndpointConfigName")
    if current != plan.config_name:
        reason = settled.description.get("FailureReason") or "no FailureReason given"
        raise DeployError(f"endpoint {plan.endpoint_name} is InService on {current}, not "
                          f"{plan.config_name}: the update was rolled back ({reason}); see "
                          f"CloudWatch log group {plan.log_group}")
    report.samples = samples.check_samples(runtime, plan, console)


def _confirmed(sm: Any, plan: DeployPlan, report: DeployReport, wait: bool) -> str | None:
    """Why the endpoint is not known to run the planned config yet (None when it is)."""
    if any(r.status == FAILED for r in report.samples):
        return "a sample failed"
    if wait:
        return None
    if report.steps[-1].action != "kept":
        return "the endpoint is not InService on it yet (invoke deploy --wait deletes them)"
    found = sm.describe_endpoint(EndpointName=plan.endpoint_name)
    if found.get("EndpointStatus") != "InService" or \
            found.get("EndpointConfigName") != plan.config_name:
        return (f"the endpoint is {found.get('EndpointStatus')} (invoke deploy --wait deletes "
                "them)")
    return None


def _clean_up(sm: Any, plan: DeployPlan, report: DeployReport, console: Console, *,
              wait: bool) -> None:
    """Delete what the endpoint ran before, once it is known to run the planned config."""
    found = superseded.find(sm, plan.endpoint_name, current_config=plan.config_name,
                            current_models=superseded.current(sm, plan.config_name))
    if not found:
        return
    reason = _confirmed(sm, plan, report, wait)
    if reason is not None:
        names = ", ".join(f"{f.kind} {f.name}" for f in found)
        console.print(f"kept {names}: what endpoint {plan.endpoint_name} ran before "
                      f"{plan.config_name}, kept for a rollback since {reason}")
        return
    report.steps += superseded.delete(sm, found, console)


def _raise_for_samples(report: DeployReport) -> None:
    failed = [r for r in report.samples if r.status == FAILED]
    if failed:
        raise DeployError(f"endpoint {report.plan.endpoint_name} answered "
                          f"{len(failed)} of {len(report.samples)} samples wrongly: "
                          + "; ".join(f"{r.name}: {r.detail}" for r in failed))
    unverified = [r.name for r in report.samples if r.status == INCONCLUSIVE]
    if unverified:
        from sagepack.progress import console as default_console

        default_console().print(f"inconclusive: {len(unverified)} sample(s) "
                                f"({', '.join(unverified)}) were not answered by the model")


def undeploy(settings: Settings, model: ModelConfig, variant: str = "cpu", *,
             console: Console | None = None, session: Any | None = None) -> list[Step]:
    """Delete the endpoint deploy made for ``model``'s ``variant``, its config and models."""
    if console is None:
        from sagepack.progress import console as default_console

        console = default_console()
    model.variant(variant)
    name = resource_name(model.deploy.endpoint_name or f"{model.name}-{variant}")
    sm, _ = clients(settings.project.region, session)
    with aws_errors(DeployError):
        return delete_endpoint(sm, name, console)
