"""metrics -> Terraform `storage` layer: the Thanos bucket and identity (prometheus-thanos).

The Thanos compactor applies the retention; the bucket's age rule is a safety net a week later.
"""

from __future__ import annotations

from kubeplan.render.terraform import objectstore
from kubeplan.render.terraform.model import Contribution, TerraformEnv


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "onprem" or env.choice("metrics") != "prometheus-thanos":
        return []
    return [objectstore.contribution(env, objectstore.stores(env)["thanos"], "metrics")]
