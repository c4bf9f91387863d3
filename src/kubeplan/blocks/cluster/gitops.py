"""cluster in the cluster: what a self-managed (kubeadm) cluster lacks that a managed one has.

MetalLB announces the gateway's address from the nodes (Layer 2 here: BGP needs the site
routers' ASNs and addresses, which the spec does not carry), kured reboots nodes one at a time
after OS patches inside a maintenance window, and metrics-server serves the resource metrics
API that autoscalers and `kubectl top` need.
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render.gitops import telemetry
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_CRITICAL, PRIORITY_STANDARD
from kubeplan.render.gitops.network import metallb_pool
from kubeplan.render.gitops.objects import MANAGED_BY, obj

METALLB_NAMESPACE = "metallb-system"
POOL = "gateway"  # the pool the ingress block's gateway Service asks for
# Reboots only at night on working days, when a drained node costs least.
REBOOT_WINDOW = {"rebootDays": ["mo", "tu", "we", "th", "fr"], "startTime": "01:00",
                 "endTime": "05:00", "timeZone": "UTC"}


def _metallb(plan: Plan, cluster: Cluster) -> Addon | None:
    pool = metallb_pool(plan, cluster)
    if pool is None:
        return None
    api = "metallb.io/v1beta1"
    objects = (
        obj(api, "IPAddressPool", POOL, METALLB_NAMESPACE, labels=MANAGED_BY,
            spec={"addresses": [pool], "autoAssign": False, "avoidBuggyIPs": True}),
        obj(api, "L2Advertisement", POOL, METALLB_NAMESPACE, labels=MANAGED_BY,
            spec={"ipAddressPools": [POOL]}),
    )
    values: dict[str, Any] = {
        "crds": {"enabled": True},
        "controller": {"priorityClassName": PRIORITY_CRITICAL},
        "speaker": {"priorityClassName": PRIORITY_CRITICAL, "frr": {"enabled": False}},
    }
    return Addon(name="metallb", namespace=METALLB_NAMESPACE, phase="core", chart="metallb",
                 values=values, objects=objects, pod_security="privileged",
                 pod_security_reason="the speaker answers ARP on the host network with "
                                     "NET_RAW and NET_ADMIN")


def _kured(plan: Plan) -> Addon:
    values: dict[str, Any] = {
        "configuration": {
            **REBOOT_WINDOW,
            "concurrency": 1,
            "drainTimeout": "30m",
            # Do not reboot while an alert fires (a reboot would hide or worsen it).
            "prometheusUrl": telemetry.PROMETHEUS_URL,
            "alertFiringOnly": True,
            "annotateNodes": True,
        },
        "priorityClassName": PRIORITY_STANDARD,
    }
    return Addon(name="kured", namespace="kured", phase="platform", chart="kured",
                 values=values, pod_security="privileged",
                 pod_security_reason="kured enters the host's PID namespace to check the "
                                     "reboot sentinel and reboot the node")


def _metrics_server(plan: Plan, cluster: Cluster) -> Addon:
    production = cluster.environment == plan.topology.production
    values: dict[str, Any] = {"replicas": 2 if production else 1,
                              "podDisruptionBudget": {"enabled": production, "minAvailable": 1}}
    return Addon(name="metrics-server", namespace="metrics-server", phase="core",
                 chart="metrics-server", values=values)


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    out: list[Addon] = []
    if plan.choice("load_balancer") == "self-hosted":
        metallb = _metallb(plan, cluster)
        if metallb is not None:
            out.append(metallb)
    if plan.choice("cluster") == "self-managed":
        out += [_kured(plan), _metrics_server(plan, cluster)]
    return out
