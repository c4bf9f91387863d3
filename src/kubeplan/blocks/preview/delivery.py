"""preview -> delivery: what the pipeline does for a pull request when previews are on.

The pipeline publishes the pull request's image as `pr-<number>-<head sha>`. With Argo CD the
GitOps controller (see `gitops.py` beside this file) finds the open pull request and deploys
that tag into namespace `pr-<number>`; with Flux the pipeline also commits the request that
makes Flux do so (`flux.py`), from the template handed over here, and removes it on close.
"""

from __future__ import annotations

from kubeplan.blocks.preview import flux
from kubeplan.model import Plan
from kubeplan.render.delivery import PreviewDelivery, preview_environment, preview_requests_dir


def preview(plan: Plan) -> PreviewDelivery | None:
    decision = plan.decision("preview")
    if decision.choice != "pull-request-namespaces":
        return None
    engine = plan.choice("gitops")
    base = PreviewDelivery(str(decision.param("hostPattern")),
                           str(decision.param("namespacePattern")),
                           preview_environment(plan), engine)
    if engine != "flux":
        return base
    return PreviewDelivery(base.host_pattern, base.namespace_pattern, base.environment, engine,
                           request=tuple(flux.request_template(plan)),
                           requests_dir=preview_requests_dir(plan))
