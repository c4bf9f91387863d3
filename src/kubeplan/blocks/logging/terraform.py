"""logging -> Terraform `storage` layer: Loki's bucket and identity (logging: loki).

Loki's compactor applies the retention; the bucket's age rule is a safety net a week later.
Elasticsearch keeps its data on volumes and the provider's logging service needs no bucket.
"""

from __future__ import annotations

from kubeplan.render.terraform import objectstore
from kubeplan.render.terraform.model import Contribution, TerraformEnv


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "onprem" or env.choice("logging") != "loki":
        return []
    return [objectstore.contribution(env, objectstore.stores(env)["loki"], "logging")]
