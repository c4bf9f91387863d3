"""service_mesh in the cluster: Istio in ambient mode (istio-base, istiod, istio-cni, ztunnel)
with mutual TLS STRICT mesh-wide (Linkerd is refused by the rule: see LINKERD_REFUSED).
Application namespaces join the mesh through the baseline's namespace labels. Cilium's mesh is
configured on the Cilium chart by the network_policy block.
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_CRITICAL
from kubeplan.render.gitops.objects import MANAGED_BY, obj

ISTIO_NAMESPACE = "istio-system"
# Istio's Helm charts read the cluster platform for its CNI paths (GKE's /home/kubernetes/bin).
PLATFORM = {"gcp": "gke", "aws": "eks", "azure": "aks"}


def _istio(plan: Plan, cluster: Cluster) -> list[Addon]:
    production = cluster.environment == plan.topology.production
    platform = PLATFORM.get(plan.metadata.provider)
    mtls = str(plan.decision("service_mesh").parameters.get("mtls", "STRICT"))
    istiod_values: dict[str, Any] = {
        "profile": "ambient",
        "global": {"priorityClassName": PRIORITY_CRITICAL},
        "replicaCount": 2 if production else 1,
        "autoscaleMin": 2 if production else 1,
        # Gateways istiod deploys from Gateway objects then meet Pod Security "restricted".
        "gateways": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    objects: list[dict[str, Any]] = [
        obj("security.istio.io/v1", "PeerAuthentication", "default", ISTIO_NAMESPACE,
            labels=MANAGED_BY, spec={"mtls": {"mode": mtls}}),
    ]
    if plan.metadata.provider == "gcp":
        # GKE admits system-node-critical pods (istio-cni, ztunnel) only in namespaces with a
        # quota for that priority class.
        objects.append(obj("v1", "ResourceQuota", "gcp-critical-pods", ISTIO_NAMESPACE,
                           labels=MANAGED_BY, spec={
                               "hard": {"pods": "1000"},
                               "scopeSelector": {"matchExpressions": [{
                                   "operator": "In", "scopeName": "PriorityClass",
                                   "values": ["system-node-critical"]}]}}))
    node_values: dict[str, Any] = {"profile": "ambient"}
    if platform:
        node_values["global"] = {"platform": platform}
    reason = ("ambient mode's node agents (istio-cni, ztunnel) configure pod networking "
              "from the host with NET_ADMIN")
    return [
        Addon(name="istio-base", namespace=ISTIO_NAMESPACE, phase="crds", chart="istio-base",
              pod_security="privileged", pod_security_reason=reason),
        Addon(name="istiod", namespace=ISTIO_NAMESPACE, phase="core", chart="istiod",
              values=istiod_values, objects=tuple(objects), depends_on=("istio-base",),
              pod_security="privileged", pod_security_reason=reason),
        Addon(name="istio-cni", namespace=ISTIO_NAMESPACE, phase="core", chart="istio-cni",
              values=node_values, depends_on=("istiod",),
              pod_security="privileged", pod_security_reason=reason),
        Addon(name="ztunnel", namespace=ISTIO_NAMESPACE, phase="core", chart="ztunnel",
              depends_on=("istio-cni",), pod_security="privileged", pod_security_reason=reason),
    ]


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    choice = plan.choice("service_mesh")
    if choice == "istio":
        return _istio(plan, cluster)
    return []
