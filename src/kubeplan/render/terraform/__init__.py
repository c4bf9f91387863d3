"""The Terraform target: the cloud layers as root modules on pinned community modules, and the
on-prem equivalents.

Layout of the output
--------------------
    terraform/bootstrap/                 the remote-state bucket and the platform pipeline's
                                         plan and apply identities (OIDC federation), applied
                                         once by hand with local state
    terraform/<environment>/<layer>/     one root module and state per layer, applied in
                                         `naming.TERRAFORM_LAYERS` order: network, access,
                                         cluster, edge, registry, storage, then harbor
                                         (Harbor's projects and policies, once the GitOps
                                         sync runs Harbor; on-prem too, state in PostgreSQL)
    terraform/README.md                  the runbook: order, inputs, hand-over to GitOps
    onprem/                              provider onprem: kubeadm, encryption, audit, BIND
                                         zone (see `onprem.py`)

Identities of in-cluster add-ons (external-dns, cert-manager, Velero, External Secrets, Loki,
Tempo, Thanos, the AWS Load Balancer Controller) live in the `storage` layer: it is applied last,
so it can bind the clusters' workload identity (cluster layer) to the zone (edge layer) and the
buckets it creates itself. The CSI drivers' identities and disk keys are in the cluster layer.
On AWS those identities are IAM roles trusting EKS Pod Identity (`pods.eks.amazonaws.com`),
bound by an `aws_eks_pod_identity_association` per cluster, so the GitOps tree's ServiceAccounts
carry no annotation.

Contribution interface
----------------------
A block contributes through `blocks/<block>/terraform.py`:

    def contribute(env: TerraformEnv) -> list[Contribution]

`TerraformEnv` (model.py) is one environment of the plan: its clusters and regions, the subnet
plan, the zone, names, `env.module(name, catalogue_key, args)` for a pinned module call and
`env.remote(layer, output)` for an earlier layer's output. A `Contribution` names its layer and
file and carries HCL blocks built as data (hcl.py), variables (with descriptions and validation),
outputs, locals, `gitops` values (key -> expression, merged into each layer's `gitops` output),
the GCP APIs it needs, and on-prem files. The composer (compose.py) merges contributions per
environment and layer, drops identical duplicates (two blocks asking a shared helper for the same
KMS key), refuses conflicting ones, infers the providers from resource types and the catalogue,
and writes `versions.tf` (exact pins), `backend.tf`, `providers.tf`, `variables.tf`,
`remote-state.tf` (only the earlier layers actually read), `<block>.tf` and `outputs.tf`.
Contributions that carry only notes add lines to the runbook and create no layer.

Shared helpers: `gcp.py`, `aws.py`, `azure.py` (keys, buckets, workload identities per cloud),
`objectstore.py` (a component's bucket plus its identity, on any cloud), `shared.py` (facts
several blocks depend on), `roots.py` (versions, backends, providers, remote state),
`bootstrap.py` (the state store), `runbook.py`. Module calls use the catalogue's release commit
(`git::...?ref=<sha>`), so a moved tag cannot change what is applied.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeplan.model import Plan
from kubeplan.render.terraform import bootstrap, compose, onprem, runbook
from kubeplan.render.terraform.model import Contribution, Contributor, TerraformEnv
from kubeplan.render.tree import OutputTree


def render(plan: Plan, tree: OutputTree, contributors: Sequence[Contributor]) -> None:
    if plan.metadata.provider == "onprem":
        onprem.render(plan, tree, contributors)
        # On-prem, Terraform only configures services the GitOps tree runs (Harbor's API); the
        # on-prem runbook carries their steps.
        for env in compose.environments(plan):
            compose.render_environment(env, contributors, tree)
        return
    summaries = {env.environment: compose.render_environment(env, contributors, tree)
                 for env in compose.environments(plan)}
    for path, text in bootstrap.files(plan).items():
        tree.add(f"{compose.ROOT}/bootstrap/{path}", text)
    tree.add(f"{compose.ROOT}/README.md", runbook.render(plan, summaries))


__all__ = ["Contribution", "Contributor", "TerraformEnv", "render"]
