"""backup -> Terraform `storage` layer: the Velero bucket and identity; on-prem, etcd snapshots.

Backups are versioned (a deleted or overwritten backup stays for a week) and, in a multi-region
environment, copied to the second region so a restore does not depend on the region that failed.
Velero deletes expired backups itself (its TTL), so the bucket has no age rule.
"""

from __future__ import annotations

from kubeplan.blocks.backup import etcd
from kubeplan.render.terraform import objectstore
from kubeplan.render.terraform.model import Contribution, TerraformEnv


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "onprem":
        return etcd.contribute(env)
    return [objectstore.contribution(env, objectstore.stores(env)["velero"], "backup")]
