"""One cluster's GitOps tree from its add-ons:

    gitops/clusters/<cluster>/
      README.md                    bootstrap steps and the apply order (from the phase table)
      <addon>/values.yaml          chart values, generated from the decisions
      <addon>/manifests/           objects kubeplan authors (one file per object + kustomization)
      applications/                Argo CD: root Application, AppProject, one Application per unit
      flux/, phases/, <addon>/helmrelease.yaml ...   Flux: sources, phase Kustomizations, releases

The GitOps controller (Argo CD or Flux) and the baseline (namespaces, policies, quotas, RBAC,
priority classes) are add-ons like the blocks' ones, so they share the same ordering.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubeplan.errors import RenderError
from kubeplan.model import Cluster, Plan
from kubeplan.render.gitops import argocd, flux, network, outputs, telemetry
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import baseline_addon
from kubeplan.render.gitops.objects import cluster_dir, kustomization, object_file
from kubeplan.render.gitops.units import CHART, MANIFESTS, Unit, units
from kubeplan.render.serialise import to_yaml, to_yaml_stream
from kubeplan.render.tree import OutputTree


def controller(plan: Plan, cluster: Cluster) -> Addon:
    if plan.choice("gitops") == "flux":
        return flux.controller_addon(plan, cluster)
    return argocd.controller_addon(plan, cluster)


def _serialise(documents: list[dict[str, Any]]) -> str:
    return to_yaml(documents[0]) if len(documents) == 1 else to_yaml_stream(documents)


def _check_variables(where: str, data: Any, tool: str) -> bool:
    """True when `data` needs substitution; refuses a mix Flux would blank out."""
    platform, other = outputs.used(data)
    if platform and other and tool == "flux":
        raise RenderError(f"{where} mixes platform outputs ({', '.join(sorted(platform))}) with "
                          f"other ${{...}} references ({', '.join(sorted(other))}), which Flux "
                          "would replace with empty strings")
    return bool(platform)


def render_cluster(plan: Plan, cluster: Cluster, addons: Sequence[Addon],
                   tree: OutputTree) -> list[Unit]:
    tool = plan.choice("gitops")
    addons = [telemetry.for_secret_store(plan, addon) for addon in addons]
    everything = [controller(plan, cluster), *addons]
    try:
        everything.insert(0, baseline_addon(plan, cluster, everything))
    except ValueError as error:
        raise RenderError(f"cluster {cluster.name}: {error}") from None
    planned = units(cluster, everything)
    values_files: dict[str, str] = {}
    platform_values: set[str] = set()  # Flux: units with a platform-values.yaml overlay
    substitute = False
    for unit in planned:
        if unit.kind == CHART and unit.addon.values:
            path = f"{unit.path}/values.yaml"
            values_files[unit.name] = path
            tree.add(path, to_yaml(dict(unit.addon.values)))
            overlay = outputs.platform_values(unit.addon.values)
            if overlay:
                substitute = True
                if tool == "flux":
                    overlay_path = f"{unit.path}/{flux.PLATFORM_VALUES}"
                    _check_variables(overlay_path, overlay, tool)
                    tree.add(overlay_path, to_yaml(overlay))
                    platform_values.add(unit.name)
        if unit.kind == MANIFESTS:
            substitute = _write_manifests(unit, tool, tree) or substitute
    if tool == "flux":
        wiring = flux.files(plan, cluster, planned, values_files, platform_values,
                            substitute=substitute)
    else:
        wiring = argocd.files(plan, cluster, planned, values_files)
        substitute = argocd.substitutes(wiring, cluster)
    for path, documents in sorted(wiring.items()):
        tree.add(path, _serialise(documents))
    tree.add(f"{cluster_dir(cluster)}/README.md", readme(plan, cluster, planned, substitute))
    return planned


def _write_manifests(unit: Unit, tool: str, tree: OutputTree) -> bool:
    files: dict[str, dict[str, Any]] = {}
    substitute = False
    for document in unit.addon.objects:
        data = dict(document)
        name = object_file(data)
        if name in files:
            raise RenderError(f"add-on {unit.addon.name} has two objects written to {name}")
        where = f"{unit.path}/{name}"
        needs = _check_variables(where, data, tool)
        substitute = substitute or needs
        if tool == "flux" and not needs and outputs.used(data)[1]:
            metadata = dict(data["metadata"])
            metadata["annotations"] = {**(metadata.get("annotations") or {}),
                                       **flux.NO_SUBSTITUTE}
            data["metadata"] = metadata
        files[name] = data
    for name in sorted(files):
        tree.add(f"{unit.path}/{name}", to_yaml(files[name]))
    tree.add(f"{unit.path}/kustomization.yaml", to_yaml(kustomization(sorted(files))))
    return substitute


def readme(plan: Plan, cluster: Cluster, planned: Sequence[Unit], substitute: bool) -> str:
    tool = plan.choice("gitops")
    steps = (flux.bootstrap_steps(plan, cluster) if tool == "flux"
             else argocd.bootstrap_steps(plan, cluster, substitute))
    lines = [
        f"# Cluster {cluster.name}",
        "",
        f"Environment `{cluster.environment}`, region `{cluster.region}` ({cluster.role}); "
        f"reconciled by {'Flux' if tool == 'flux' else 'Argo CD'} from "
        f"`{cluster_dir(cluster)}`. Generated by kubeplan: change the spec and rebuild rather "
        "than editing these files.",
        "",
        "## Bootstrap (once)",
        "",
        "```sh",
        *steps,
        "```",
        "",
    ]
    if substitute:
        if tool == "flux":
            lines.append(
                f"Before the first sync, create the ConfigMap `{flux.OUTPUTS_CONFIGMAP}` in "
                f"`{flux.NAMESPACE}` from Terraform's `platform_outputs` (the runbook's hand-over "
                "step writes `platform-outputs.env`); Flux substitutes these keys for the "
                "`${...}` variables in this tree:")
        else:
            lines.append(
                f"The `{argocd.CLUSTER_SECRET}` Secret created above carries Terraform's "
                "`platform_outputs` (the runbook's hand-over step writes `platform-outputs.env`) "
                f"as annotations; the root ApplicationSet `{argocd.ROOT}` reads them and patches "
                "the Applications below, filling in the `${...}` variables of this tree:")
        lines += [
            "",
            *[f"- `{name}`: {what}" for name, what in sorted(outputs.known().items())
              if _uses(planned, name)],
            "",
        ]
    if network.mesh_gateway(plan):
        lines += [
            "## Request path",
            "",
            f"The edge gateway (`{network.GATEWAY_NAMESPACE}` namespace, "
            f"{plan.choice('ingress')}) terminates TLS and has one backend: the Istio gateway "
            f"`{network.MESH_GATEWAY}` (class `istio`) in `{network.MESH_GATEWAY_NAMESPACE}`, "
            f"through its Service `{network.MESH_GATEWAY_SERVICE}`. Meshed pods accept only "
            "mutual TLS (PeerAuthentication STRICT), so the Istio gateway carries each request "
            "into the mesh over mTLS (HBONE); application HTTPRoutes attach to it, not to the "
            "edge gateway. NetworkPolicies let the edge reach only the Istio gateway, and the "
            "application namespace accept requests only from it.",
            "",
        ]
    lines += [
        "## Apply order",
        "",
        "Each phase is healthy before the next starts (Argo CD sync waves, Flux `dependsOn`).",
        "",
        "| wave | phase | unit | kind | namespace | source |",
        "|---:|---|---|---|---|---|",
    ]
    for unit in planned:
        if unit.chart is not None:
            source = (f"{unit.chart.get('chart') or unit.chart.get('path')} "
                      f"{unit.chart['version']}")
        else:
            source = "kubeplan objects"
        lines.append(f"| {unit.wave} | {unit.phase} | {unit.name} | {unit.kind} | "
                     f"{unit.addon.namespace} | {source} |")
    exceptions = {u.addon.name: u.addon for u in planned if u.addon.pod_security != "restricted"}
    if exceptions:
        lines += ["", "## Pod Security exceptions", ""]
        for addon in sorted(exceptions.values(), key=lambda a: a.name):
            lines.append(f"- `{addon.namespace}` ({addon.name}): {addon.pod_security} — "
                         f"{addon.pod_security_reason}")
    return "\n".join(lines) + "\n"


def _uses(planned: Sequence[Unit], name: str) -> bool:
    for unit in planned:
        found, _ = outputs.used([dict(unit.addon.values), *[dict(o) for o in unit.addon.objects]])
        if name in found:
            return True
    return False
