"""NetworkPolicies: every namespace starts from default deny, then named allowances open flows.

The model, chosen so it holds for add-ons whose internal flows kubeplan does not enumerate:
platform namespaces form one trust zone (they may talk to each other, to the API server and to
cloud APIs on 443/6443, and receive admission-webhook calls on their chart's webhook ports);
application namespaces are isolated from each other and from the platform, and only receive
what the platform must send them (the gateway's requests, Prometheus's scrapes). NetworkPolicy
has no way to name the API server or a cloud API by address, so egress to them is opened by port.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops.objects import (
    MANAGED_BY,
    NAME_LABEL,
    TIER_APPS,
    TIER_LABEL,
    TIER_PLATFORM,
    obj,
)

API = "networking.k8s.io/v1"
# Where traffic from the internet enters the cluster's pods (Gateway objects and, for in-cluster
# implementations, the proxies themselves).
GATEWAY_NAMESPACE = "gateway"
# With Istio's mesh and any other ingress, the edge sends every request to an Istio gateway in
# this namespace, which carries it into the mesh over mTLS (STRICT refuses plaintext to pods).
MESH_GATEWAY_NAMESPACE = "istio-ingress"
MESH_GATEWAY = "ingress"
# istiod deploys a Gateway of class istio as a Deployment and Service named <Gateway>-<class>.
MESH_GATEWAY_SERVICE = f"{MESH_GATEWAY}-istio"
# Ingress implementations that can front the mesh gateway (application-gateway-for-containers
# renders nothing; istio-gateway already is the mesh's own gateway).
EDGE_BEFORE_MESH_GATEWAY = ("gke-gateway", "aws-load-balancer-controller", "envoy-gateway",
                            "cilium-gateway")
DNS_SELECTOR = {"namespaceSelector": {"matchLabels": {NAME_LABEL: "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus"}
# Admission and conversion webhooks the API server calls, per chart (their default ports).
WEBHOOK_PORTS: dict[str, tuple[int, ...]] = {
    "cert-manager": (10250,),
    "external-secrets": (10250,),
    "kube-prometheus-stack": (10250,),
    "metrics-server": (10250,),
    "kyverno": (9443,),
    "metallb": (9443,),
    "opentelemetry-operator": (9443,),
    "eck-operator": (9443,),
    "aws-load-balancer-controller": (9443,),
    "policy-controller": (8443,),
    "istiod": (15017,),
    "rook-ceph": (9443,),
}
# Charts known to serve no webhook (so they get no webhook allowance at all).
NO_WEBHOOKS = frozenset({
    "argo-cd", "flux2", "external-dns", "gateway-helm", "istio-base", "istio-cni", "ztunnel",
    "cilium", "rook-ceph-cluster", "harbor", "kured", "velero", "grafana",
    "thanos", "loki", "alloy", "tempo", "tempo-distributed", "jaeger", "fluent-bit", "eck-stack",
    "opentelemetry-collector",
})
# For a chart kubeplan has no port data for, the two ports controller-runtime webhooks use.
DEFAULT_WEBHOOK_PORTS = (9443, 10250)
# API server (443 on managed control planes, 6443 on kubeadm) and cloud APIs/object storage.
PLATFORM_EGRESS_PORTS = (443, 6443)
# Google front ends and health checkers: the sources of GKE Gateway traffic to pods.
GOOGLE_LB_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
# Istio ambient: ztunnel's HBONE port, and the link-local address kubelet probes are SNATed to.
HBONE_PORT = 15008
AMBIENT_PROBE_SOURCE = "169.254.7.127/32"


# On-prem the edge /22 of each site is MetalLB's address pool; the gateway takes its tenth
# address, fixed, so DNS records can be declared ahead of time.
GATEWAY_ADDRESS_INDEX = 10


def gateway_address(plan: Plan, cluster: Cluster) -> str | None:
    """On-prem only: the address MetalLB gives the gateway."""
    if plan.metadata.provider != "onprem":
        return None
    edge = plan.decision("network").parameters.get(f"edgeCidr.{cluster.region}")
    return str(IPv4Network(str(edge))[GATEWAY_ADDRESS_INDEX]) if edge else None


def mesh_gateway(plan: Plan) -> bool:
    """True when requests enter the Istio mesh through an Istio gateway behind the edge."""
    return (plan.choice("service_mesh") == "istio"
            and plan.choice("ingress") in EDGE_BEFORE_MESH_GATEWAY)


# The platform's own Gateway (the ingress block renders it) and where application routes attach.
PLATFORM_GATEWAY = "platform"


# Every preview namespace carries this label (the preview block sets it): the gateways admit
# preview routes on a listener of their own, whose hostname is the preview wildcard only, so a
# pull request cannot claim another environment's or production's names.
PREVIEW_LABEL = {"kubeplan.dev/preview": "true"}
PREVIEW_LISTENER = "https-previews"
MESH_PREVIEW_LISTENER = "http-previews"


def environment_zone(plan: Plan, environment: str) -> str:
    """The DNS name an environment serves under, which is its public zone: the platform domain
    in production, the delegated `<environment>.<domain>` elsewhere (the Terraform edge layer's
    `TerraformEnv.zone`; the preview rule derives its host pattern the same way)."""
    domain = plan.metadata.domain
    return domain if environment == plan.topology.production else f"{environment}.{domain}"


def preview_wildcard(plan: Plan) -> str | None:
    """`*.<preview domain>` from the preview decision's host pattern (`pr-{number}.<preview
    domain>`), or None without previews: the listener hostname and certificate name that
    cover every preview host (a TLS wildcard covers exactly one label)."""
    decision = plan.decision("preview")
    if decision.choice != "pull-request-namespaces":
        return None
    first, rest = str(decision.param("hostPattern")).split(".", 1)
    if "{number}" not in first or "{" in rest:
        raise ValueError(f"preview host pattern {decision.param('hostPattern')!r}: the pull "
                         "request number must be in the first label only")
    return f"*.{rest}"


def preview_parent_ref(plan: Plan) -> dict[str, str]:
    """Where preview HTTPRoutes attach: the preview listener of the gateway that serves them
    (the in-mesh Istio gateway when an edge gateway sits in front of it, as `app_parent_ref`)."""
    if mesh_gateway(plan):
        return {"name": MESH_GATEWAY, "namespace": MESH_GATEWAY_NAMESPACE,
                "sectionName": MESH_PREVIEW_LISTENER}
    return {"name": PLATFORM_GATEWAY, "namespace": GATEWAY_NAMESPACE,
            "sectionName": PREVIEW_LISTENER}


def preview_routes_allowed() -> dict[str, Any]:
    """A listener's allowedRoutes admitting routes from preview namespaces only."""
    return {"namespaces": {"from": "Selector", "selector": {"matchLabels": dict(PREVIEW_LABEL)}}}


def gateway_to_previews(namespace: str) -> dict[str, Any]:
    """Egress from in-cluster gateway proxies in `namespace` to preview namespaces, which are
    outside the application tier the baseline opens the gateway to."""
    return _policy("allow-gateway-to-previews", namespace,
                   "the gateway's proxies forward preview requests to pull-request namespaces",
                   {"podSelector": {}, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"namespaceSelector": {
                        "matchLabels": dict(PREVIEW_LABEL)}}]}]})


def app_parent_ref(plan: Plan) -> dict[str, str]:
    """Where application HTTPRoutes attach: the Istio gateway inside the mesh when an edge
    gateway sits in front of it (plaintext from the edge would be refused under STRICT mTLS),
    else the platform Gateway's HTTPS listener. The ingress block and the delivery pipeline's
    service routes both use this, so they cannot disagree."""
    if mesh_gateway(plan):
        return {"name": MESH_GATEWAY, "namespace": MESH_GATEWAY_NAMESPACE, "sectionName": "http"}
    return {"name": PLATFORM_GATEWAY, "namespace": GATEWAY_NAMESPACE, "sectionName": "https"}


# GKE multi-cluster Services (the fleet feature the edge layer enables): a ServiceExport adds a
# cluster's endpoints of a Service to the fleet-wide ServiceImport of the same namespace and
# name, which is what a multi-cluster Gateway's routes and backend policies name.
MCS_GROUP = "net.gke.io"
MCS_API = f"{MCS_GROUP}/v1"


def multi_cluster_gateway(plan: Plan, environment: str) -> bool:
    """The environment's GKE clusters share one multi-cluster Gateway behind the global anycast
    address: it and its routes live in `naming.config_cluster` only (the other clusters have no
    platform Gateway), and its routes send to ServiceImports every cluster fills."""
    return (plan.choice("ingress") == "gke-gateway" and plan.choice("load_balancer") == "global"
            and naming.config_cluster(plan, environment) is not None)


def has_platform_gateway(plan: Plan, cluster: Cluster) -> bool:
    """Whether the platform Gateway (and routes attached to it) belongs in `cluster`."""
    return (not multi_cluster_gateway(plan, cluster.environment)
            or cluster.name == naming.config_cluster(plan, cluster.environment))


def gateway_backend_ref(plan: Plan, environment: str, name: str, port: int) -> dict[str, Any]:
    """A platform Gateway route's backend: the Service `name` in the route's namespace, or under
    a multi-cluster Gateway its ServiceImport (the Service must then be exported everywhere,
    `service_export`)."""
    if multi_cluster_gateway(plan, environment):
        return {"group": MCS_GROUP, "kind": "ServiceImport", "name": name, "port": port}
    return {"name": name, "port": port}


def service_export(name: str, namespace: str) -> dict[str, Any]:
    """Exports this cluster's Service `namespace/name` to the fleet (no fields beyond metadata)."""
    return obj(MCS_API, "ServiceExport", name, namespace, labels=MANAGED_BY)


def metallb_pool(plan: Plan, cluster: Cluster) -> str | None:
    edge = plan.decision("network").parameters.get(f"edgeCidr.{cluster.region}")
    return str(edge) if edge else None


@dataclass(frozen=True)
class Port:
    port: int
    protocol: str = "TCP"

    def data(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "port": self.port}


def tcp(*ports: int) -> list[Port]:
    return [Port(p) for p in ports]


def tcp_udp(*ports: int) -> list[Port]:
    return [Port(p, proto) for p in ports for proto in ("UDP", "TCP")]


@dataclass
class NamespaceNet:
    """What one namespace needs beyond the common baseline."""

    name: str
    tier: str
    webhook_ports: set[int] = field(default_factory=set)
    # (ports, reason) reachable anywhere; (cidrs, ports, reason) reachable from sources.
    egress_any: list[tuple[list[Port], str]] = field(default_factory=list)
    ingress_cidrs: list[tuple[tuple[str, ...], list[Port], str]] = field(default_factory=list)
    ingress_any: list[tuple[list[Port], str]] = field(default_factory=list)
    gateway_backend: bool = False
    gateway_dataplane: bool = False
    egress_to_namespaces: list[tuple[str, list[Port], str]] = field(default_factory=list)
    ingress_from_namespaces: list[tuple[str, list[Port], str]] = field(default_factory=list)


def _policy(name: str, namespace: str, reason: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return obj(API, "NetworkPolicy", name, namespace, labels=MANAGED_BY,
               annotations={"kubeplan.dev/reason": reason}, spec=dict(spec))


def _ns(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAME_LABEL: name}}}


def _ports(ports: Iterable[Port]) -> list[dict[str, Any]]:
    return [p.data() for p in sorted(set(ports), key=lambda p: (p.port, p.protocol))]


def _cidrs(cidrs: Iterable[str]) -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": c}} for c in sorted(set(cidrs))]


@dataclass(frozen=True)
class Context:
    monitoring: str
    node_cidrs: tuple[str, ...]
    # Sources of provider load-balancer traffic to backends (empty: an in-cluster gateway).
    lb_sources: tuple[str, ...]
    mesh: str


def policies(ns: NamespaceNet, ctx: Context) -> list[dict[str, Any]]:
    """The NetworkPolicies of one namespace, in a stable order."""
    name = ns.name
    out = [
        _policy("default-deny", name, "every flow is closed unless a policy below opens it",
                {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy("allow-dns", name, "name resolution through the cluster DNS",
                {"podSelector": {}, "policyTypes": ["Egress"],
                 "egress": [{"to": [DNS_SELECTOR], "ports": _ports(tcp_udp(53))}]}),
        _policy("allow-same-namespace", name,
                "components of one namespace talk to each other (one add-on or one team)",
                {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                 "ingress": [{"from": [{"podSelector": {}}]}],
                 "egress": [{"to": [{"podSelector": {}}]}]}),
    ]
    if name != ctx.monitoring:
        out.append(_policy(
            "allow-prometheus-scrape", name, "Prometheus scrapes metrics from every namespace",
            {"podSelector": {}, "policyTypes": ["Ingress"],
             "ingress": [{"from": [{**_ns(ctx.monitoring),
                                    "podSelector": {"matchLabels": PROMETHEUS_POD}}]}]}))
    if ns.tier == TIER_PLATFORM:
        platform = {"namespaceSelector": {"matchLabels": {TIER_LABEL: TIER_PLATFORM}}}
        out.append(_policy(
            "allow-platform", name,
            "platform namespaces form one trust zone (data sources, log and trace shipping, "
            "object storage on-prem)",
            {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
             "ingress": [{"from": [platform]}], "egress": [{"to": [platform]}]}))
        egress: list[dict[str, Any]] = [{"ports": _ports(tcp(*PLATFORM_EGRESS_PORTS))}]
        if ctx.node_cidrs:
            # kubelet, node-exporter and host-network agents (CNI, CSI, load-balancer speakers).
            egress.append({"to": _cidrs(ctx.node_cidrs)})
        out.append(_policy(
            "allow-apiserver-and-cloud-apis", name,
            "the API server (443 managed, 6443 kubeadm) and cloud APIs and object storage on "
            "443, whose addresses NetworkPolicy cannot name; and the nodes' own addresses",
            {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress}))
        if ns.webhook_ports:
            out.append(_policy(
                "allow-webhooks", name,
                "admission and conversion webhooks called by the API server, whose source "
                "address is the control plane's",
                {"podSelector": {}, "policyTypes": ["Ingress"],
                 "ingress": [{"ports": _ports(tcp(*ns.webhook_ports))}]}))
    for index, (ports, reason) in enumerate(ns.egress_any):
        out.append(_policy(f"allow-egress-{index + 1}", name, reason,
                           {"podSelector": {}, "policyTypes": ["Egress"],
                            "egress": [{"ports": _ports(ports)}]}))
    for index, (ports, reason) in enumerate(ns.ingress_any):
        out.append(_policy(f"allow-ingress-{index + 1}", name, reason,
                           {"podSelector": {}, "policyTypes": ["Ingress"],
                            "ingress": [{"ports": _ports(ports)}]}))
    for index, (cidrs, ports, reason) in enumerate(ns.ingress_cidrs):
        rule: dict[str, Any] = {"from": _cidrs(cidrs)}
        if ports:
            rule["ports"] = _ports(ports)
        out.append(_policy(f"allow-ingress-from-cidrs-{index + 1}", name, reason,
                           {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]}))
    for target, ports, reason in ns.egress_to_namespaces:
        rule = {"to": [_ns(target)]}
        if ports:
            rule["ports"] = _ports(ports)
        out.append(_policy(f"allow-egress-to-{target}", name, reason,
                           {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]}))
    for source, ports, reason in ns.ingress_from_namespaces:
        rule = {"from": [_ns(source)]}
        if ports:
            rule["ports"] = _ports(ports)
        out.append(_policy(f"allow-ingress-from-{source}", name, reason,
                           {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]}))
    if ns.gateway_backend:
        if ctx.lb_sources:
            out.append(_policy(
                "allow-from-load-balancer", name,
                "requests and health checks from the provider's load balancer, which sends "
                "them straight to the pods",
                {"podSelector": {}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": _cidrs(ctx.lb_sources)}]}))
        elif name != GATEWAY_NAMESPACE:
            out.append(_policy(
                "allow-from-gateway", name, "requests routed by the gateway's proxies",
                {"podSelector": {}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [_ns(GATEWAY_NAMESPACE)]}]}))
    if ns.gateway_dataplane:
        out.append(_policy(
            "allow-gateway-to-backends", name,
            "the gateway's proxies forward requests to application namespaces",
            {"podSelector": {}, "policyTypes": ["Egress"],
             "egress": [{"to": [{"namespaceSelector": {"matchLabels": {TIER_LABEL: TIER_APPS}}}]}]}))
    if ns.tier == TIER_APPS and ctx.mesh == "istio":
        out.append(_policy(
            "allow-ambient-mesh", name,
            "Istio ambient: HBONE tunnels between ztunnels, and kubelet probes SNATed to "
            "169.254.7.127",
            {"podSelector": {}, "policyTypes": ["Ingress"],
             "ingress": [{"ports": _ports(tcp(HBONE_PORT))},
                         {"from": [{"ipBlock": {"cidr": AMBIENT_PROBE_SOURCE}}]}]}))
    return out
