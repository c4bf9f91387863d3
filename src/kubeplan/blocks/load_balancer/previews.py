"""The edge certificate name of the pull-request previews, shared by the providers' edge layers.

Previews are served at `pr-<number>.preview.<zone>` in the environment that runs them. A
certificate for the zone's wildcard covers one label (`*.<zone>`), so not these names: that
environment's edge certificates also name `*.preview.<zone>`.
"""

from __future__ import annotations

from kubeplan.render.delivery import preview_cluster
from kubeplan.render.gitops import network
from kubeplan.render.terraform.model import TerraformEnv


def preview_wildcard(env: TerraformEnv) -> str | None:
    """`*.preview.<zone>` in the environment that runs the previews, else None."""
    if env.environment != preview_cluster(env.plan).environment:
        return None
    return network.preview_wildcard(env.plan)


def preview_region(env: TerraformEnv) -> str:
    """The region of the cluster that runs the previews (its gateway takes their traffic)."""
    return preview_cluster(env.plan).region
