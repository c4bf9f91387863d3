"""`terraform/README.md`: the order of application, the inputs each root needs, and the hand-over
of cloud-side values to the GitOps tree. Built line by line from the rendered roots."""

from __future__ import annotations

from kubeplan import catalogue
from kubeplan.model import Plan
from kubeplan.render import delivery
from kubeplan.render.gitops import argocd, flux
from kubeplan.render.naming import AFTER_GITOPS_LAYERS
from kubeplan.render.terraform import roots
from kubeplan.render.terraform.compose import ROOT, Summary

CLOUD = {"gcp": "Google Cloud", "aws": "AWS", "azure": "Azure"}
BOOTSTRAP_INPUT = {
    "gcp": "-var project_id=<project that holds the state bucket>",
    "aws": "-var aws_account_id=<account that holds the state bucket and every environment>",
    "azure": "-var subscription_id=<subscription that holds the state account>",
}
# The bootstrap's map of each environment's project / subscription (its apply identity's scope).
BOOTSTRAP_ENVIRONMENTS = {"gcp": ("environment_project_ids", "<project id>"),
                          "azure": ("environment_subscription_ids", "<subscription id>")}


def _bootstrap_command(plan: Plan) -> str:
    provider = plan.metadata.provider
    command = f"terraform -chdir={ROOT}/bootstrap apply {BOOTSTRAP_INPUT[provider]}"
    if provider in BOOTSTRAP_ENVIRONMENTS:
        name, value = BOOTSTRAP_ENVIRONMENTS[provider]
        pairs = ", ".join(f'{e} = "{value}"' for e in _order(plan))
        command += f" \\\n  -var '{name}={{ {pairs} }}'"
    return command


def _identity_handover(plan: Plan) -> list[str]:
    """Which bootstrap output goes into which CI setting of the platform repository."""
    provider = plan.metadata.provider
    github = plan.choice("ci") == "github-actions"
    where = ("repository variables and the variables of each GitHub environment" if github
             else "CI/CD variables of the platform project, environment-scoped for the apply "
             "identities")
    lines = [
        "The bootstrap also creates the platform pipeline's identities: a plan identity "
        "(read-only on every environment, read on the state; plans run with `-lock=false`) "
        "trusted for any job of the platform repository "
        f"`{delivery.repositories(plan).platform_path}`, and one apply identity per environment, "
        "trusted only for that environment's deployment job. From then on the pipeline applies "
        f"the layers. Copy the outputs into the CI settings ({where}):",
        "",
        "```sh",
        f"terraform -chdir={ROOT}/bootstrap output -json",
        "```",
        "",
    ]
    for setting in delivery.platform_settings(plan):
        output = delivery.PLATFORM_IDENTITY_OUTPUTS.get(setting.name)
        if output is None:
            continue
        if setting.scope == "environment":
            scopes = ", ".join(f'`{output}["{e}"]` on `{e}`' for e in _order(plan))
            lines.append(f"- `{setting.name}` (per environment): {scopes}")
        else:
            lines.append(f"- `{setting.name}` (repository): `{output}`")
    if provider == "aws":
        lines += ["", "Every environment lives in the state's account: the plan role is one "
                  "repository-level role and the layers act in the account of the credentials "
                  "they get. The apply roles are administrators of that account, fenced off the "
                  "pipeline's identities, the state bucket and its key, and the other "
                  "environments' state; for a hard boundary between environments, give each "
                  "its own account (and its own pipeline roles there)."]
    if not github and provider in ("aws", "azure"):
        lines += ["", f"GitLab's token names the branch, not the environment, and "
                  f"{'IAM' if provider == 'aws' else 'Entra ID'} can only match that subject: "
                  "the apply identities trust jobs on the default branch, and the "
                  "environments' protection (production's manual start and approval) gates "
                  "which job runs."
                  + (" The plan identity trusts the default branch too (Entra ID matches "
                     "subjects exactly, without wildcards): merge-request pipelines of other "
                     "branches cannot sign in to plan." if provider == "azure" else "")]
    return [*lines, ""]


def _order(plan: Plan) -> list[str]:
    """Non-production environments first: production's edge layer reads their zones."""
    production = plan.topology.production
    return [e for e in plan.metadata.environments if e != production] + [production]


def _apply_step(step: int, environment: str, layer: str, summary: Summary,
                skip: str = "") -> list[str]:
    path = f"{ROOT}/{environment}/{layer}"
    lines = [f"{step}. `{path}`: `terraform -chdir={path} init && "
             f"terraform -chdir={path} apply`"]
    lines += [f"   - `{variable.name}` ({variable.type}): {variable.description}"
              for variable in summary.inputs.get(layer, []) if variable.name != skip]
    return lines


def render(plan: Plan, summaries: dict[str, Summary]) -> str:
    provider = plan.metadata.provider
    version = catalogue.entry("tools", "terraform")["version"]
    store = (roots.state_storage_account(plan) if provider == "azure"
             else roots.state_bucket(plan))
    lines = [
        f"# Terraform runbook: {plan.metadata.name} on {CLOUD[provider]}",
        "",
        "Generated by kubeplan from `platform.yaml`; change the spec and rebuild rather than "
        "editing these files.",
        "",
        f"Every folder under `{ROOT}/<environment>/<layer>/` is a root module with its own state "
        f"(`{store}`, object `<environment>/<layer>`). Layers read earlier layers' outputs "
        "through `terraform_remote_state`, never through copied values. Providers and modules "
        f"are pinned exactly; Terraform {version} is required.",
        "",
        "## 1. Bootstrap the state store and the pipeline's identities (once)",
        "",
        "```sh",
        f"terraform -chdir={ROOT}/bootstrap init",
        _bootstrap_command(plan),
        "```",
        "",
        "The bootstrap keeps its own (small) state locally in `terraform/bootstrap/`; keep that "
        "file with the operators' records, it holds no secrets.",
        "",
        *_identity_handover(plan),
        "## 2. Apply the layers",
        "",
        "Environments in this order (production last: its zone delegates the others'), and "
        "within each environment the layers in this order. Set the inputs listed for a layer "
        "(`TF_VAR_<name>` or a `*.auto.tfvars` file next to it) before its `terraform init` "
        "and `terraform apply`.",
        "",
    ]
    step = 0
    for environment in _order(plan):
        summary = summaries.get(environment)
        if summary is None or not summary.layers:
            continue
        common = roots.PROVIDER_VARIABLE[provider]
        lines += [f"### {environment}", "",
                  f"Every layer reads `{common.name}` ({common.type}): {common.description}", ""]
        for layer in summary.layers:
            if layer in AFTER_GITOPS_LAYERS:
                continue
            step += 1
            lines += _apply_step(step, environment, layer, summary, skip=common.name)
        lines.append("")
    lines += [
        "## 3. Hand over to the GitOps tree",
        "",
        "Each environment's last layer applied before the GitOps sync merges the outputs of "
        "all its layers. "
        "`platform_outputs` holds the values only the cloud knows (project, account and "
        "subscription IDs, workload identity client IDs, the key vault, the registry address), "
        "keyed by the "
        "`${VARIABLE}` names the GitOps tree uses; `gitops` holds every cloud-side value "
        "(buckets, identities, zone, addresses, keys) under descriptive keys. Names known "
        "before apply (buckets, identity names, keys) come from the same functions on both "
        "sides (`kubeplan.render.naming`), so nothing is copied by hand.",
        "",
    ]
    if plan.metadata.provider == "aws":
        lines += [
            "On AWS the add-ons (external-dns, cert-manager, External Secrets, Velero, Loki, "
            "Tempo, Thanos, the AWS Load Balancer Controller, the EBS and EFS CSI drivers) get "
            "their IAM roles through EKS Pod Identity: the `storage` layer (and, for the CSI "
            "drivers, the EKS add-ons in the `cluster` layer) creates a pod identity "
            "association per cluster on each add-on's namespace and ServiceAccount, and the "
            "`eks-pod-identity-agent` add-on hands out the credentials. The ServiceAccounts "
            "carry no `eks.amazonaws.com/role-arn` annotation and the clusters need no role ARN "
            "or account id; the `*.identity` values are for reference and audits.",
            "",
        ]
    write_env = [
        "```sh",
        "terraform -chdir=terraform/<environment>/<last layer> output -json "
        "platform_outputs \\",
        "  | jq -r 'to_entries[] | \"\\(.key)=\\(.value)\"' > platform-outputs.env",
    ]
    if plan.choice("gitops") == "flux":
        lines += [
            f"Before the first sync, create the ConfigMap `{flux.OUTPUTS_CONFIGMAP}` in "
            f"`{flux.NAMESPACE}` on each cluster of the environment (through the admin access "
            "path: the API servers are private), which Flux substitutes from:",
            "",
            *write_env,
            f"kubectl -n {flux.NAMESPACE} create configmap {flux.OUTPUTS_CONFIGMAP} "
            "--from-env-file=platform-outputs.env",
            "```",
            "",
        ]
    else:
        lines += [
            "Write the environment's platform outputs to `platform-outputs.env`; each "
            "cluster's bootstrap (`gitops/clusters/<cluster>/README.md`, through the admin "
            f"access path) annotates its Argo CD cluster Secret `{argocd.CLUSTER_SECRET}` "
            f"with them, and the root ApplicationSet `{argocd.ROOT}` fills them in:",
            "",
            *write_env,
            "```",
            "",
        ]
    for environment in _order(plan):
        summary = summaries.get(environment)
        if summary is None or not summary.gitops:
            continue
        lines.append(f"- {environment}: " + ", ".join(f"`{k}`" for k in summary.gitops))
    after = [(environment, layer) for environment in _order(plan)
             for layer in (summaries[environment].layers if environment in summaries else [])
             if layer in AFTER_GITOPS_LAYERS]
    if after:
        lines += ["", "## 4. After the GitOps sync", "",
                  "Once the first sync has Harbor answering at its hostname, apply the layers "
                  "that configure it through its API. They read no other layer's state and hand "
                  "nothing over to the GitOps tree; their credentials are in the steps and "
                  "limits below.", ""]
        for number, (environment, layer) in enumerate(after, start=1):
            lines += _apply_step(number, environment, layer, summaries[environment])
    notes = list(dict.fromkeys(n for s in summaries.values() for n in s.notes))
    if notes:
        lines += ["", f"## {5 if after else 4}. Steps and limits to know", ""]
        lines += [f"- {note}" for note in notes]
    lines.append("")
    return "\n".join(lines)


__all__ = ["render"]
