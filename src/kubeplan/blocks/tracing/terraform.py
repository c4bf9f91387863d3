"""tracing -> Terraform `storage` layer: Tempo's bucket and identity (tracing: tempo).

Tempo's compactor applies the retention; the bucket's age rule is a safety net a week later.
Jaeger stores spans in Elasticsearch, which needs no bucket.
"""

from __future__ import annotations

from kubeplan.render.terraform import objectstore
from kubeplan.render.terraform.model import Contribution, TerraformEnv


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "onprem" or env.choice("tracing") != "tempo":
        return []
    return [objectstore.contribution(env, objectstore.stores(env)["tempo"], "tracing")]
