"""backup -> Terraform `storage` layer: the Velero bucket and identity (clouds only).

Backups are versioned (a deleted or overwritten backup stays for a week) and, in a multi-region
environment, copied to the second region so a restore does not depend on the region that failed.
Velero deletes expired backups itself (its TTL), so the bucket has no age rule.

On-prem there is nothing to add outside the clusters: Velero's and the etcd snapshots' buckets
are claimed from Rook in the GitOps tree, and etcd snapshots run as a CronJob there (see
`gitops.py` for why that, and not a timer on the nodes, is the one mechanism).
"""

from __future__ import annotations

from kubeplan.render.terraform import objectstore
from kubeplan.render.terraform.model import Contribution, TerraformEnv


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "onprem":
        return []
    return [objectstore.contribution(env, objectstore.stores(env)["velero"], "backup")]
