"""The objects kubeplan authors for every cluster before any add-on: namespaces with Pod Security
Admission labels, network policies, quotas and limits for application namespaces, RBAC for
platform admins and application teams, and priority classes.

The baseline is derived from the add-ons themselves (their namespaces, Pod Security exceptions,
charts and routes), so a new add-on gets its namespace and its policies without editing this
file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import network
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.network import NamespaceNet, Port, tcp, tcp_udp
from kubeplan.render.gitops.objects import MANAGED_BY, TIER_APPS, TIER_LABEL, TIER_PLATFORM, obj

BASELINE = "baseline"
# Namespaces the distribution owns: kubeplan neither creates nor labels them, and does not put
# default deny there (the provider's own agents live there and are not ours to enumerate).
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})
PSA_ORDER = ("restricted", "baseline", "privileged")

# Priority classes (user-defined values must stay below 1e9, where the system classes start).
PRIORITY_CRITICAL = "platform-critical"  # admission webhooks, gateway, DNS: all deploys or all traffic
PRIORITY_STANDARD = "platform-standard"  # every other platform add-on
PRIORITY_PREEMPTIBLE = "preemptible"     # preview environments and batch: first to go
PRIORITIES: tuple[tuple[str, int, str, str], ...] = (
    (PRIORITY_CRITICAL, 1_000_000, "PreemptLowerPriority",
     "Platform components whose outage blocks every deployment or all traffic (admission "
     "webhooks, the gateway, DNS and certificates)."),
    (PRIORITY_STANDARD, 100_000, "PreemptLowerPriority",
     "Other platform add-ons (observability, backup, registry)."),
    (PRIORITY_PREEMPTIBLE, -10, "Never",
     "Preview environments and batch work: never preempt others, preempted first."),
)

# Application namespace sizing per service from spec.workloads.services: about three replicas
# of 300m/640Mi each, room for jobs and rollouts (surge), and volumes when stateful.
CPU_PER_SERVICE = 1
MEMORY_GI_PER_SERVICE = 2
PODS_PER_SERVICE = 10
PVCS_PER_SERVICE = 2
STORAGE_GI_PER_SERVICE = 50

# Ports the in-cluster gateway proxies listen on (Envoy Gateway maps 80/443 to 10080/10443 to
# run unprivileged; Istio's gateway binds 80/443 through an unprivileged-port sysctl).
GATEWAY_LISTENERS = {"envoy-gateway": (10080, 10443), "istio-gateway": (80, 443)}
OTLP_PORTS = (4317, 4318)
SIGSTORE_INCLUDE = {"policy.sigstore.dev/include": "true"}


def pod_security(addons: Sequence[Addon]) -> dict[str, tuple[str, str]]:
    """Namespace -> (level, reason): the least restrictive level any add-on there needs."""
    levels: dict[str, tuple[str, list[str]]] = {}
    for addon in addons:
        for namespace in namespaces_of(addon):
            level, reasons = levels.get(namespace, ("restricted", []))
            if namespace == addon.namespace and addon.pod_security != "restricted":
                if PSA_ORDER.index(addon.pod_security) > PSA_ORDER.index(level):
                    level = addon.pod_security
                reasons = [*reasons, f"{addon.name}: {addon.pod_security_reason}"]
            levels[namespace] = (level, reasons)
    return {ns: (level, "; ".join(sorted(set(reasons)))) for ns, (level, reasons) in levels.items()}


def namespaces_of(addon: Addon) -> list[str]:
    found = {addon.namespace}
    for document in addon.objects:
        namespace = (document.get("metadata") or {}).get("namespace")
        if namespace:
            found.add(str(namespace))
    return sorted(found - SYSTEM_NAMESPACES)


def pod_security_labels(level: str, version: str) -> dict[str, str]:
    """Pod Security Admission labels of a namespace enforcing `level`, pinned to the cluster's
    Kubernetes minor version (preview namespaces carry the same as the application's)."""
    return {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": f"v{version}",
        # Audit and warn stay at restricted, so an exception still shows what it permits.
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }


def _namespace(name: str, tier: str, level: str, reason: str, version: str, *,
               extra_labels: dict[str, str]) -> dict[str, Any]:
    labels = {**MANAGED_BY, TIER_LABEL: tier, **pod_security_labels(level, version),
              **extra_labels}
    # Never pruned by either GitOps tool: deleting a namespace deletes everything in it.
    annotations = {"argocd.argoproj.io/sync-options": "Prune=false",
                   "kustomize.toolkit.fluxcd.io/prune": "disabled"}
    if level != "restricted":
        annotations["kubeplan.dev/pod-security-reason"] = reason
    return obj("v1", "Namespace", name, labels=labels, annotations=annotations)


def _lb_sources(plan: Plan, cluster: Cluster) -> tuple[str, ...]:
    ingress = plan.decision("ingress")
    network_params = plan.decision("network").parameters
    edge = str(network_params.get(f"edgeCidr.{cluster.region}", ""))
    if ingress.choice == "gke-gateway":
        regional = "regional" in str(ingress.parameters.get("gatewayClassName", ""))
        # Regional (Envoy-based) load balancers send from the proxy-only subnet, global ones
        # from Google's front ends; health checks come from Google's ranges either way.
        return (*network.GOOGLE_LB_RANGES, *((edge,) if regional and edge else ()))
    if ingress.choice == "aws-load-balancer-controller":
        return (edge,) if edge else ()
    return ()


def _route_backends(addons: Sequence[Addon]) -> set[str]:
    """Namespaces holding Services that a Gateway API route sends traffic to."""
    found: set[str] = set()
    for addon in addons:
        for document in addon.objects:
            if not str(document.get("apiVersion", "")).startswith("gateway.networking.k8s.io/"):
                continue
            if not str(document.get("kind", "")).endswith("Route"):
                continue
            own = str((document.get("metadata") or {}).get("namespace", ""))
            for rule in (document.get("spec") or {}).get("rules") or []:
                for ref in rule.get("backendRefs") or []:
                    found.add(str(ref.get("namespace") or own))
    return found - {""}


def _extra_egress(plan: Plan, addon: Addon) -> list[tuple[list[Port], str]]:
    chart = addon.chart or ""
    if chart == "cert-manager":
        return [(tcp_udp(53), "DNS-01 propagation checks query the zone's authoritative "
                              "name servers directly")]
    if chart == "external-dns" and plan.decision("dns").parameters.get(
            "externalDnsProvider") == "rfc2136":
        return [(tcp_udp(53), "RFC 2136 updates to the BIND primary outside the cluster")]
    if chart == "external-secrets" and plan.choice("secrets") == "vault":
        return [(tcp(8200), "HashiCorp Vault's API outside the cluster")]
    if chart == "kube-prometheus-stack":
        receivers = (plan.inputs.get("observability") or {}).get("alertReceivers") or []
        if any(r.get("type") == "email" for r in receivers):
            return [(tcp(25, 465, 587), "Alertmanager sends e-mail through the SMTP relay")]
    return []


def _webhook_ports(addon: Addon) -> tuple[int, ...]:
    if not addon.chart or addon.chart in network.NO_WEBHOOKS:
        return ()
    return network.WEBHOOK_PORTS.get(addon.chart, network.DEFAULT_WEBHOOK_PORTS)


def _network_context(plan: Plan, cluster: Cluster) -> network.Context:
    region_nodes = plan.decision("network").parameters.get(f"nodeCidr.{cluster.region}")
    return network.Context(monitoring=naming.WORKLOADS["thanos"].namespace,
                           node_cidrs=(str(region_nodes),) if region_nodes else (),
                           lb_sources=_lb_sources(plan, cluster),
                           mesh=plan.choice("service_mesh"))


def _app_net(plan: Plan, ctx: network.Context) -> NamespaceNet:
    """The application namespace's flows. They follow from the plan alone (no add-on runs
    there), so namespaces made at run time for the same workloads, the pull-request previews,
    can be given exactly the same policies."""
    apps = NamespaceNet(naming.APP_NAMESPACE, TIER_APPS)
    if network.mesh_gateway(plan):
        # Applications receive requests only from the mesh's gateway (over HBONE); the edge
        # reaches that gateway, never the application pods.
        apps.ingress_from_namespaces.append(
            (network.MESH_GATEWAY_NAMESPACE, [],
             "requests routed by the Istio gateway that carries edge traffic into the mesh"))
    else:
        apps.gateway_backend = True
    if plan.choice("tracing") != "none":
        apps.egress_to_namespaces.append(
            (ctx.monitoring, tcp(*OTLP_PORTS), "spans and metrics to the OpenTelemetry Collector"))
    return apps


def app_network_policies(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    """The NetworkPolicies of the application namespace in `cluster` (part of
    `network_policies`, which uses this very function)."""
    ctx = _network_context(plan, cluster)
    return network.policies(_app_net(plan, ctx), ctx)


def network_policies(plan: Plan, cluster: Cluster, addons: Sequence[Addon],
                     platform_namespaces: Sequence[str]) -> list[dict[str, Any]]:
    ingress_choice = plan.choice("ingress")
    ctx = _network_context(plan, cluster)
    nets = {ns: NamespaceNet(ns, TIER_PLATFORM) for ns in platform_namespaces}
    for addon in addons:
        net = nets.get(addon.namespace)
        if net is None:
            continue
        net.webhook_ports.update(_webhook_ports(addon))
        net.egress_any.extend(_extra_egress(plan, addon))
    # The application namespace is handled by `app_network_policies`. Behind a multi-cluster
    # Gateway the routes live in the config cluster only: a namespace exporting a Service
    # (ServiceExport) is a load-balancer backend in every cluster.
    exported = {str(d["metadata"]["namespace"]) for a in addons for d in a.objects
                if d.get("apiVersion") == network.MCS_API and d.get("kind") == "ServiceExport"}
    backends = (_route_backends(addons) | exported) - {naming.APP_NAMESPACE}
    if network.mesh_gateway(plan) and network.MESH_GATEWAY_NAMESPACE in nets:
        nets[network.MESH_GATEWAY_NAMESPACE].gateway_dataplane = True
    for name in sorted(backends & set(nets)):
        nets[name].gateway_backend = True
    if ingress_choice in GATEWAY_LISTENERS and network.GATEWAY_NAMESPACE in nets:
        gateway = nets[network.GATEWAY_NAMESPACE]
        gateway.gateway_dataplane = True
        gateway.ingress_any.append((tcp(*GATEWAY_LISTENERS[ingress_choice]),
                                    "client traffic from the Layer-4 load balancer in front of "
                                    "the gateway"))
    if plan.choice("storage") == "rook-ceph" and "rook-ceph" in nets and ctx.node_cidrs:
        nets["rook-ceph"].ingress_cidrs.append(
            (ctx.node_cidrs, [], "Ceph clients in the nodes' kernels (RBD and CephFS mounts "
                                 "made by the host-network CSI plugins)"))
    out: list[dict[str, Any]] = []
    for name in sorted({*nets, naming.APP_NAMESPACE}):
        if name == naming.APP_NAMESPACE:
            out.extend(app_network_policies(plan, cluster))
        else:
            out.extend(network.policies(nets[name], ctx))
    return out


def _app_namespace_objects(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    workloads = plan.inputs.get("workloads") or {}
    services = int(workloads.get("services", 1))
    stateful = bool(workloads.get("stateful", False))
    ns = naming.APP_NAMESPACE
    hard: dict[str, str] = {
        "requests.cpu": str(services * CPU_PER_SERVICE),
        "requests.memory": f"{services * MEMORY_GI_PER_SERVICE}Gi",
        "limits.memory": f"{services * MEMORY_GI_PER_SERVICE * 2}Gi",
        "pods": str(services * PODS_PER_SERVICE),
        # Traffic enters through the shared gateway, never through a Service of its own.
        "services.loadbalancers": "0",
        "services.nodeports": "0",
        # spec.workloads.stateful false: no volumes, so none can be claimed by mistake.
        "persistentvolumeclaims": str(services * PVCS_PER_SERVICE if stateful else 0),
        "requests.storage": f"{services * STORAGE_GI_PER_SERVICE if stateful else 0}Gi",
    }
    production = cluster.environment == plan.topology.production
    read = ["get", "list", "watch"]
    rules: list[dict[str, Any]] = [
        {"apiGroups": [""], "resources": ["pods", "pods/log", "services", "endpoints",
                                          "configmaps", "events", "persistentvolumeclaims",
                                          "serviceaccounts"], "verbs": read},
        {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets",
                                              "replicasets"], "verbs": read},
        {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": read},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": read},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": read},
        {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes", "grpcroutes"],
         "verbs": read},
        {"apiGroups": ["external-secrets.io"], "resources": ["externalsecrets"], "verbs": read},
        {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors", "podmonitors",
                                                               "prometheusrules"],
         "verbs": read},
    ]
    if not production:
        # Outside production, developers may debug in place; every change still goes through
        # Git, and Secrets are never readable (External Secrets fills them).
        rules.append({"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]})
        rules.append({"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]})
    return [
        obj("v1", "ResourceQuota", "apps", ns, labels=MANAGED_BY,
            spec={"hard": dict(sorted(hard.items()))}),
        obj("v1", "LimitRange", "container-defaults", ns, labels=MANAGED_BY,
            spec={"limits": [{"type": "Container",
                              "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                              "default": {"memory": "512Mi"},
                              "max": {"memory": "8Gi"}}]}),
        obj("rbac.authorization.k8s.io/v1", "ClusterRole", "app-developer", labels=MANAGED_BY,
            rules=rules),
        obj("rbac.authorization.k8s.io/v1", "RoleBinding", "app-developers", ns,
            labels=MANAGED_BY,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "app-developer"},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                       "name": naming.APP_DEVELOPERS_GROUP}]),
    ]


def _cluster_objects() -> list[dict[str, Any]]:
    out = [
        obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "platform-admins",
            labels=MANAGED_BY,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "cluster-admin"},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                       "name": naming.PLATFORM_ADMINS_GROUP}]),
    ]
    for name, value, preemption, description in PRIORITIES:
        out.append(obj("scheduling.k8s.io/v1", "PriorityClass", name, labels=MANAGED_BY,
                       value=value, globalDefault=False, preemptionPolicy=preemption,
                       description=description))
    return out


def mesh_enrolment(plan: Plan) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) that put an application namespace's pods in the mesh: Istio's
    ambient data plane by label (Cilium's mesh needs nothing). The application namespace and
    every preview namespace carry them; annotations are returned too for meshes that enrol by
    annotation."""
    mesh = plan.choice("service_mesh")
    if mesh == "istio":
        return {"istio.io/dataplane-mode": "ambient"}, {}
    return {}, {}


def sigstore_policy_controller(plan: Plan) -> bool:
    """True when Sigstore policy-controller verifies image signatures (a verifying posture
    without Kyverno, whose own rules would do it)."""
    policy = plan.decision("policy")
    return policy.choice != "kyverno" and bool(policy.parameters.get("verifyImages"))


def image_policy_labels(plan: Plan) -> dict[str, str]:
    """Labels that put a namespace of application pods under the image policies: policy-
    controller's webhook only sees namespaces labelled so (its chart's namespaceSelector).
    The application namespace and every preview namespace carry them."""
    return dict(SIGSTORE_INCLUDE) if sigstore_policy_controller(plan) else {}


def baseline_addon(plan: Plan, cluster: Cluster, addons: Sequence[Addon]) -> Addon:
    """The baseline as an object-only add-on in the first phase."""
    version = plan.metadata.kubernetes_version
    clash = sorted(a.name for a in addons if a.namespace == naming.APP_NAMESPACE)
    if clash:
        raise ValueError(f"add-ons {', '.join(clash)} run in the application namespace "
                         f"{naming.APP_NAMESPACE!r}")
    # Add-ons may put objects (routes, policies) into the application namespace; it stays
    # an application namespace.
    levels = {ns: level for ns, level in pod_security(addons).items()
              if ns != naming.APP_NAMESPACE}
    platform = sorted(levels)
    objects: list[dict[str, Any]] = []
    for name in platform:
        level, reason = levels[name]
        objects.append(_namespace(name, TIER_PLATFORM, level, reason, version, extra_labels={}))
    mesh_labels, mesh_annotations = mesh_enrolment(plan)
    app_ns = _namespace(naming.APP_NAMESPACE, TIER_APPS, "restricted", "", version, extra_labels=
                        {**mesh_labels, **image_policy_labels(plan)})
    app_ns["metadata"]["annotations"].update(mesh_annotations)
    objects.append(app_ns)
    objects.extend(_app_namespace_objects(plan, cluster))
    objects.extend(network_policies(plan, cluster, addons, platform))
    objects.extend(_cluster_objects())
    return Addon(name=BASELINE, namespace=naming.APP_NAMESPACE, phase="namespaces",
                 objects=tuple(objects), objects_phase="namespaces")
