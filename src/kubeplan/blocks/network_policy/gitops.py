"""network_policy in the cluster: Cilium as the CNI when the decision is Cilium (on-prem, or for
Cilium's mesh); the provider's dataplane needs nothing here. The policies themselves (default
deny and the allowances) are the GitOps baseline's, in standard NetworkPolicy form, which every
engine enforces.

Cilium is the cluster's network: it is installed at bootstrap, before the GitOps controller can
run, then reconciled like any other add-on.
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops.addon import Addon

NAMESPACE = "kube-system"


def _cilium(plan: Plan, cluster: Cluster) -> Addon:
    params = plan.decision("network").parameters
    production = cluster.environment == plan.topology.production
    values: dict[str, Any] = {
        # kube-proxy replacement needs the API server's address (no kube-proxy to reach it).
        "kubeProxyReplacement": True,
        "k8sServiceHost": naming.kubernetes_api_host(plan, cluster.name),
        "k8sServicePort": 6443,
        "ipam": {"mode": "cluster-pool", "operator": {
            "clusterPoolIPv4PodCIDRList": [str(params[f"podCidr.{cluster.region}"])]}},
        # Pod-to-pod traffic between nodes is encrypted.
        "encryption": {"enabled": True, "type": "wireguard"},
        "hubble": {"enabled": True, "relay": {"enabled": True}},
        "operator": {"replicas": 2 if production else 1},
        "gatewayAPI": {"enabled": plan.choice("ingress") == "cilium-gateway"},
    }
    if plan.choice("service_mesh") == "cilium":
        values["authentication"] = {"mutual": {"spire": {"enabled": True, "install": {
            "enabled": True}}}}
    return Addon(name="cilium", namespace=NAMESPACE, phase="core", chart="cilium",
                 values=values)


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    if plan.choice("network_policy") == "cilium":
        return [_cilium(plan, cluster)]
    return []
