"""ingress in the cluster: the chosen Gateway API implementation, one shared Gateway for the
platform's domain in the `gateway` namespace, an HTTP-to-HTTPS redirect and the domain's root
route to the application's entry Service.

Provider specifics: GKE Gateway takes the certificate map and SSL policy the edge layer creates
(GCPGatewayPolicy) and logs/drains per backend (GCPBackendPolicy); the AWS Load Balancer
Controller gets an internet-facing ALB with ACM certificates found by hostname; Envoy Gateway
and Istio run proxies behind a Layer-4 load balancer with a cert-manager certificate.

With Istio's mesh (mTLS STRICT) and any other implementation, the edge's only backend is an
Istio gateway in its own namespace: the edge's plaintext would be refused by meshed pods, so
the Istio gateway takes it and forwards it into the mesh over mTLS, and the application routes
attach to that gateway instead of the edge. In production istiod runs that gateway with a
HorizontalPodAutoscaler (at least two replicas) and a PodDisruptionBudget, set through the
Gateway's `infrastructure.parametersRef` ConfigMap (Istio's customisation of the resources it
deploys for a Gateway).

Every cluster serves its environment's zone (the domain in production, `<environment>.<domain>`
elsewhere). The cluster that runs the pull-request previews also has a preview listener for
`*.preview.<zone>` that admits preview namespaces only (behind the mesh: the in-mesh gateway's
route on the edge, and the previews on the in-mesh gateway's own preview listener), and its
certificate names that wildcard too.

GKE claims the address the edge layer reserves for the environment (`spec.addresses`
NamedAddress, `naming.gateway_address`): the global anycast address, or the regional address
in the environment's primary region. Where an environment has several GKE clusters behind the
global load balancer (multi-region production), they share one multi-cluster Gateway (class
`gke-l7-global-external-managed-mc`, GKE's multi-cluster Gateway over the fleet the edge layer
sets up): it, its routes to the edge and its backend policies live in the config cluster
(`naming.config_cluster`, the edge layer's config membership) only, the routes send to
ServiceImports (`net.gke.io`), and every cluster exports the Services behind them, so one load
balancer spreads requests over every region and fails over between them.
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming, to_yaml
from kubeplan.render.delivery import preview_cluster
from kubeplan.render.gitops import outputs
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_CRITICAL
from kubeplan.render.gitops.network import (
    GATEWAY_NAMESPACE,
    MCS_GROUP,
    MESH_GATEWAY,
    MESH_GATEWAY_NAMESPACE,
    MESH_GATEWAY_SERVICE,
    MESH_PREVIEW_LISTENER,
    PLATFORM_GATEWAY,
    PREVIEW_LISTENER,
    app_parent_ref,
    environment_zone,
    gateway_address,
    gateway_backend_ref,
    gateway_to_previews,
    has_platform_gateway,
    mesh_gateway,
    multi_cluster_gateway,
    preview_routes_allowed,
    preview_wildcard,
    service_export,
)
from kubeplan.render.gitops.objects import MANAGED_BY, NAME_LABEL, TIER_LABEL, obj

GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY = PLATFORM_GATEWAY
TLS_SECRET = "platform-tls"
CERTIFICATE = "platform"
ACME_ISSUER = "letsencrypt"  # the ClusterIssuer the dns block creates
ENVOY_PROXY = "platform"
LB_CONFIG = "platform"
IN_CLUSTER_PROXIES = ("envoy-gateway", "istio-gateway")
# ALB TLS policy with TLS 1.3 and 1.2 only.
ALB_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
METALLB_POOL = "gateway"  # the IPAddressPool the cluster block creates on-prem
MESH_GATEWAY_PORT = 80
# The Istio proxy's readiness endpoint, on its status port (the Service exposes it too).
MESH_GATEWAY_STATUS_PORT = 15021
MESH_GATEWAY_READY_PATH = "/healthz/ready"
# The ConfigMap istiod reads the production mesh gateway's Deployment, HPA and PDB overlays from.
MESH_GATEWAY_OPTIONS = "ingress-gateway-options"
# The in-mesh gateway scales on CPU between two replicas (one per zone at least, so a node or
# zone loss leaves one serving) and this many.
MESH_GATEWAY_MAX_REPLICAS = 5
MESH_GATEWAY_CPU_TARGET = 75
# istiod labels the pods of a Gateway's deployment with the Gateway's name.
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
# GKE's multi-cluster class of the global external Application Load Balancer.
GKE_MULTI_CLUSTER_CLASS = "gke-l7-global-external-managed-mc"


def _production(plan: Plan, cluster: Cluster) -> bool:
    return cluster.environment == plan.topology.production


def _replicas(plan: Plan, cluster: Cluster) -> int:
    return 2 if _production(plan, cluster) else 1


def _zone(plan: Plan, cluster: Cluster) -> str:
    return environment_zone(plan, cluster.environment)


def _previews(plan: Plan, cluster: Cluster) -> str | None:
    """The preview wildcard (`*.preview.<zone>`) when this cluster runs the previews."""
    wildcard = preview_wildcard(plan)
    return wildcard if wildcard and cluster == preview_cluster(plan) else None


def _tls(secret: str) -> dict[str, Any]:
    return {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": secret}]}


def _listeners(plan: Plan, cluster: Cluster, tls_secret: str | None) -> list[dict[str, Any]]:
    # Routes from every kubeplan namespace (platform add-ons, applications) may attach; the
    # routes' hostnames stay under the environment's zone.
    allowed = {"namespaces": {"from": "Selector", "selector": {"matchExpressions": [
        {"key": TIER_LABEL, "operator": "Exists"}]}}}
    https: dict[str, Any] = {"name": "https", "protocol": "HTTPS", "port": 443,
                             "allowedRoutes": allowed}
    if tls_secret:
        https["tls"] = _tls(tls_secret)
    out = [{"name": "http", "protocol": "HTTP", "port": 80,
            "allowedRoutes": {"namespaces": {"from": "Same"}}}, https]
    previews = _previews(plan, cluster)
    if previews:
        # Preview namespaces have no tier: they attach here, to the preview names only. Behind
        # the mesh only the in-mesh gateway's route does, and previews attach to that gateway.
        preview_allowed = (
            {"namespaces": {"from": "Selector", "selector": {"matchLabels": {
                NAME_LABEL: MESH_GATEWAY_NAMESPACE}}}}
            if mesh_gateway(plan) else preview_routes_allowed())
        listener: dict[str, Any] = {"name": PREVIEW_LISTENER, "protocol": "HTTPS", "port": 443,
                                    "hostname": previews, "allowedRoutes": preview_allowed}
        if tls_secret:
            listener["tls"] = _tls(tls_secret)
        out.append(listener)
    return out


def _gateway(plan: Plan, class_name: str, listeners: list[dict[str, Any]], *,
             annotations: dict[str, str] | None = None,
             infrastructure: dict[str, Any] | None = None,
             address: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"gatewayClassName": class_name, "listeners": listeners}
    if address:
        spec["addresses"] = [{"type": "NamedAddress", "value": address}]
    if infrastructure:
        spec["infrastructure"] = infrastructure
    return obj(GATEWAY_API, "Gateway", GATEWAY, GATEWAY_NAMESPACE, labels=MANAGED_BY,
               annotations=annotations, spec=spec)


def _routes(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    """The HTTP-to-HTTPS redirect on the platform Gateway and the zone's root route, where the
    Gateway each attaches to is: behind the mesh the root route is the in-mesh gateway's (in
    every cluster, to the local Service); otherwise both need the platform Gateway."""
    zone = _zone(plan, cluster)
    parent = {"name": GATEWAY, "namespace": GATEWAY_NAMESPACE}
    edge = has_platform_gateway(plan, cluster)
    out: list[dict[str, Any]] = []
    if edge:
        out.append(obj(GATEWAY_API, "HTTPRoute", "https-redirect", GATEWAY_NAMESPACE,
                       labels=MANAGED_BY, spec={
                           "parentRefs": [{**parent, "sectionName": "http"}],
                           "rules": [{"filters": [{"type": "RequestRedirect", "requestRedirect": {
                               "scheme": "https", "statusCode": 301}}]}]}))
    if mesh_gateway(plan):
        backend: dict[str, Any] = {"name": naming.APP_ENTRY_SERVICE, "port": 80}
    elif edge:
        backend = gateway_backend_ref(plan, cluster.environment, naming.APP_ENTRY_SERVICE, 80)
    else:
        return out
    # The zone's root: the application's entry Service (the delivery pipeline deploys it).
    out.append(obj(GATEWAY_API, "HTTPRoute", "platform", naming.APP_NAMESPACE, labels=MANAGED_BY,
                   spec={"parentRefs": [app_parent_ref(plan)],
                         "hostnames": [zone],
                         "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                    "backendRefs": [backend]}]}))
    return out


def _certificate(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    """The gateway's certificate: the environment's zone, its subdomains and, where the
    previews run, their own wildcard (ACME DNS-01 in the zone that cluster's cert-manager may
    write)."""
    zone = _zone(plan, cluster)
    previews = _previews(plan, cluster)
    names = [zone, f"*.{zone}", *([previews] if previews else [])]
    return obj("cert-manager.io/v1", "Certificate", CERTIFICATE, GATEWAY_NAMESPACE,
               labels=MANAGED_BY, spec={
                   "secretName": TLS_SECRET, "dnsNames": names,
                   "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                   "issuerRef": {"name": ACME_ISSUER, "kind": "ClusterIssuer",
                                 "group": "cert-manager.io"}})


def _mesh_gateway_options() -> dict[str, Any]:
    """Istio's overlays for the resources it deploys for the in-mesh Gateway: a CPU-driven
    HorizontalPodAutoscaler from two replicas, a PodDisruptionBudget keeping one up through
    drains, and the pods spread across zones at the platform's critical priority. istiod merges
    each key onto its own object (`<gateway>-istio`, selecting the Gateway's pods), so the
    Deployment keeps no replica count of its own for the autoscaler to fight."""
    pods = {GATEWAY_NAME_LABEL: MESH_GATEWAY}
    deployment = {"spec": {"template": {"spec": {
        "priorityClassName": PRIORITY_CRITICAL,
        "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": pods}}]}}}}
    autoscaler = {"spec": {
        "minReplicas": 2, "maxReplicas": MESH_GATEWAY_MAX_REPLICAS,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": MESH_GATEWAY_CPU_TARGET}}}]}}
    # A stuck (unhealthy) proxy must not block node drains.
    budget = {"spec": {"minAvailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"}}
    return obj("v1", "ConfigMap", MESH_GATEWAY_OPTIONS, MESH_GATEWAY_NAMESPACE,
               labels=MANAGED_BY, data={"deployment": to_yaml(deployment),
                                        "horizontalPodAutoscaler": to_yaml(autoscaler),
                                        "podDisruptionBudget": to_yaml(budget)})


def _mesh_gateway(plan: Plan, cluster: Cluster) -> Addon:
    """The Istio gateway that is the edge's only backend, the edge's route to it and the
    provider's backend settings for its Service (under a multi-cluster Gateway: the route and
    settings in the config cluster, to the ServiceImport every cluster's export fills)."""
    zone = _zone(plan, cluster)
    previews = _previews(plan, cluster)
    choice = plan.choice("ingress")
    # The ALB's Gateway has one HTTPS listener for the apex and one for the subdomains.
    sections = (["https", "https-subdomains"] if choice == "aws-load-balancer-controller"
                else ["https"])
    hostnames = [zone, f"*.{zone}"]
    listeners: list[dict[str, Any]] = [{
        "name": "http", "protocol": "HTTP", "port": MESH_GATEWAY_PORT,
        "allowedRoutes": {"namespaces": {
            "from": "Selector", "selector": {"matchExpressions": [
                {"key": TIER_LABEL, "operator": "Exists"}]}}}}]
    if previews:
        sections.append(PREVIEW_LISTENER)
        hostnames.append(previews)
        listeners.append({"name": MESH_PREVIEW_LISTENER, "protocol": "HTTP",
                          "port": MESH_GATEWAY_PORT, "hostname": previews,
                          "allowedRoutes": preview_routes_allowed()})
    spec: dict[str, Any] = {"gatewayClassName": "istio", "listeners": listeners}
    objects: list[dict[str, Any]] = []
    if _production(plan, cluster):
        spec["infrastructure"] = {"parametersRef": {"group": "", "kind": "ConfigMap",
                                                    "name": MESH_GATEWAY_OPTIONS}}
        objects.append(_mesh_gateway_options())
    # Istio's recommended Gateway API deployment: istiod creates the proxies' Deployment and
    # Service from this Gateway. The edge terminates TLS, so the Service stays cluster-internal
    # (container-native load balancing reaches its pods directly).
    objects.append(obj(GATEWAY_API, "Gateway", MESH_GATEWAY, MESH_GATEWAY_NAMESPACE,
                       labels=MANAGED_BY,
                       annotations={"networking.istio.io/service-type": "ClusterIP"}, spec=spec))
    if multi_cluster_gateway(plan, cluster.environment):
        objects.append(service_export(MESH_GATEWAY_SERVICE, MESH_GATEWAY_NAMESPACE))
    edge = has_platform_gateway(plan, cluster)
    if edge:
        # Same namespace as the Service it sends to, so no ReferenceGrant is needed.
        objects.append(obj(GATEWAY_API, "HTTPRoute", "mesh-gateway", MESH_GATEWAY_NAMESPACE,
                           labels=MANAGED_BY, spec={
                               "parentRefs": [{"name": GATEWAY, "namespace": GATEWAY_NAMESPACE,
                                               "sectionName": section} for section in sections],
                               "hostnames": hostnames,
                               "rules": [{"backendRefs": [gateway_backend_ref(
                                   plan, cluster.environment, MESH_GATEWAY_SERVICE,
                                   MESH_GATEWAY_PORT)]}]}))
    if previews:
        objects.append(gateway_to_previews(MESH_GATEWAY_NAMESPACE))
    if choice == "gke-gateway" and edge:
        objects += _gke_backend_policies(plan, cluster, MESH_GATEWAY_NAMESPACE,
                                         MESH_GATEWAY_SERVICE,
                                         health_port=MESH_GATEWAY_STATUS_PORT,
                                         health_path=MESH_GATEWAY_READY_PATH)
    elif choice == "aws-load-balancer-controller":
        objects.append(obj(
            "gateway.k8s.aws/v1", "TargetGroupConfiguration", MESH_GATEWAY_SERVICE,
            MESH_GATEWAY_NAMESPACE, labels=MANAGED_BY, spec={
                "targetReference": {"name": MESH_GATEWAY_SERVICE},
                "defaultConfiguration": {"targetType": "ip", "healthCheckConfig": {
                    "healthCheckProtocol": "HTTP",
                    "healthCheckPort": str(MESH_GATEWAY_STATUS_PORT),
                    "healthCheckPath": MESH_GATEWAY_READY_PATH}}}))
    return Addon(name="mesh-gateway", namespace=MESH_GATEWAY_NAMESPACE, phase="config",
                 objects=tuple(objects), objects_phase="config")


def _gateway_api_crds() -> Addon:
    return Addon(name="gateway-api-crds", namespace=GATEWAY_NAMESPACE, phase="crds",
                 chart="gateway-api-crds")


def _gke_backend_policies(plan: Plan, cluster: Cluster, namespace: str, service: str, *,
                          health_port: int, health_path: str) -> list[dict[str, Any]]:
    """Logging, draining and the health check of the load balancer's backend Service (GKE
    requires the ServiceImport as their target under a multi-cluster Gateway)."""
    target = ({"group": MCS_GROUP, "kind": "ServiceImport", "name": service}
              if multi_cluster_gateway(plan, cluster.environment)
              else {"group": "", "kind": "Service", "name": service})
    default: dict[str, Any] = {"logging": {"enabled": True, "sampleRate": 100000},
                               "timeoutSec": 30, "connectionDraining": {"drainingTimeoutSec": 30}}
    if naming.cdn_in_front(plan):
        # Cloud CDN's load balancer is the only client: its origin fetches alone get through
        # (the edge policy, if any, sits on the CDN's backend, where client IPs are real).
        default["securityPolicy"] = naming.origin_security_policy(plan, cluster.environment)
    elif naming.edge_protection(plan):
        # The edge layer's Cloud Armor policy (WAF, rate limit, adaptive DDoS defence) filters
        # every request before it reaches this backend.
        default["securityPolicy"] = naming.edge_security_policy(plan, cluster.environment)
    return [
        obj("networking.gke.io/v1", "GCPBackendPolicy", service, namespace, labels=MANAGED_BY,
            spec={"default": default, "targetRef": target}),
        obj("networking.gke.io/v1", "HealthCheckPolicy", service, namespace, labels=MANAGED_BY,
            spec={"default": {"checkIntervalSec": 5, "timeoutSec": 5, "healthyThreshold": 2,
                              "unhealthyThreshold": 3, "logConfig": {"enabled": True},
                              "config": {"type": "HTTP", "httpHealthCheck": {
                                  "port": health_port, "requestPath": health_path}}},
                  "targetRef": target}),
    ]


def _claims_address(plan: Plan, cluster: Cluster) -> bool:
    """Whether this cluster's Gateway takes the environment's reserved address: the global one
    is the one Gateway's (single- or multi-cluster); a regional address exists in the
    environment's primary region only, for its first cluster there."""
    if not has_platform_gateway(plan, cluster):
        return False
    if plan.choice("load_balancer") == "global":
        return True
    clusters = plan.topology.clusters_in(cluster.environment)
    regions = {c.region for c in clusters}
    primary = next((r for r in plan.topology.regions if r in regions), cluster.region)
    return cluster == next((c for c in clusters if c.region == primary), cluster)


def _gke(plan: Plan, cluster: Cluster) -> list[Addon]:
    params = plan.decision("ingress").parameters
    environment = cluster.environment
    multi = multi_cluster_gateway(plan, environment)
    # Under a multi-cluster Gateway every cluster exports the edge's backend (behind the mesh,
    # the in-mesh gateway's Service, exported by _mesh_gateway).
    exports = ([service_export(naming.APP_ENTRY_SERVICE, naming.APP_NAMESPACE)]
               if multi and not mesh_gateway(plan) else [])
    if not has_platform_gateway(plan, cluster):
        # A fleet member: the config cluster's Gateway sends here through the exports.
        member = (*exports, *_routes(plan, cluster))
        return [Addon(name="gateway", namespace=GATEWAY_NAMESPACE, phase="config",
                      objects=member, objects_phase="config")] if member else []
    class_name = GKE_MULTI_CLUSTER_CLASS if multi else str(params["gatewayClassName"])
    cert_manager = bool(params.get("certManager"))
    annotations = None
    objects: list[dict[str, Any]] = [*exports]
    if cert_manager:
        objects.append(_certificate(plan, cluster))
    else:
        # Google-managed certificates in the Certificate Manager map the edge layer creates.
        annotations = {"networking.gke.io/certmap": naming.certificate_map(
            plan, cluster.environment)}
    if naming.cdn_in_front(plan):
        # external-dns publishes the routes' hostnames at Cloud CDN, never at the Gateway,
        # whose backends admit the CDN's origin fetches only.
        annotations = {**(annotations or {}),
                       "external-dns.alpha.kubernetes.io/target": outputs.var("CDN_ADDRESS")}
    gateway_ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}
    objects += [
        _gateway(plan, class_name,
                 _listeners(plan, cluster, TLS_SECRET if cert_manager else None),
                 annotations=annotations,
                 address=(naming.gateway_address(plan, environment)
                          if _claims_address(plan, cluster) else None)),
        obj("networking.gke.io/v1", "GCPGatewayPolicy", GATEWAY, GATEWAY_NAMESPACE,
            labels=MANAGED_BY, spec={
                "default": {"sslPolicy": naming.ssl_policy(plan, cluster.environment)},
                "targetRef": gateway_ref}),
    ]
    if not mesh_gateway(plan):
        # Otherwise the load balancer's backend is the mesh gateway (see _mesh_gateway).
        objects += _gke_backend_policies(plan, cluster, naming.APP_NAMESPACE,
                                         naming.APP_ENTRY_SERVICE, health_port=80,
                                         health_path="/healthz")
    objects += _routes(plan, cluster)
    # GKE installs and upgrades the Gateway API CRDs itself: nothing to install here.
    return [Addon(name="gateway", namespace=GATEWAY_NAMESPACE, phase="config",
                  objects=tuple(objects), objects_phase="config")]


def _aws(plan: Plan, cluster: Cluster) -> list[Addon]:
    workload = naming.WORKLOADS["aws-load-balancer-controller"]
    zone = _zone(plan, cluster)
    values: dict[str, Any] = {
        "clusterName": naming.cluster_resource_name(plan, cluster.name),
        "region": cluster.region,
        "replicaCount": 2,
        "serviceAccount": {"create": True, "name": workload.service_account},
        # Pods are targets (not nodes), so security groups and network policy see the ALB.
        "defaultTargetType": "ip",
        "controllerConfig": {"featureGates": {"ALBGatewayAPI": True, "NLBGatewayAPI": False}},
        "enableCertManager": False,
    }
    lb_config = obj("gateway.k8s.aws/v1beta1", "LoadBalancerConfiguration", LB_CONFIG,
                    GATEWAY_NAMESPACE, labels=MANAGED_BY, spec={
                        "scheme": "internet-facing",
                        # ACM certificates are discovered by the listeners' hostnames.
                        "listenerConfigurations": [{"protocolPort": "HTTPS:443",
                                                    "sslPolicy": ALB_SSL_POLICY}],
                    })
    # ACM certificates are found by these hostnames: the zone, its subdomains and, where the
    # previews run, their wildcard (the edge layer's certificates, one name set each).
    listeners = _listeners(plan, cluster, None)
    listeners[1]["hostname"] = zone
    listeners.insert(2, {**listeners[1], "name": "https-subdomains", "hostname": f"*.{zone}"})
    gateway_class = obj(GATEWAY_API, "GatewayClass", "alb", labels=MANAGED_BY, spec={
        "controllerName": str(plan.decision("ingress").parameters["controllerName"])})
    gateway = _gateway(plan, "alb", listeners, infrastructure={"parametersRef": {
        "group": "gateway.k8s.aws", "kind": "LoadBalancerConfiguration", "name": LB_CONFIG}})
    controller = Addon(name="aws-load-balancer-controller", namespace=workload.namespace,
                       phase="core", chart="aws-load-balancer-controller", values=values,
                       depends_on=("gateway-api-crds",),
                       objects=(gateway_class, lb_config, gateway, *_routes(plan, cluster)))
    return [_gateway_api_crds(), controller]


def _envoy(plan: Plan, cluster: Cluster) -> list[Addon]:
    replicas = _replicas(plan, cluster)
    values: dict[str, Any] = {
        # CRDs come from the pinned Gateway API standard channel and Envoy Gateway's own
        # CRD folder (the chart bundles the experimental channel).
        "crds": {"enabled": False},
        "deployment": {"replicas": replicas, "priorityClassName": PRIORITY_CRITICAL},
        "podDisruptionBudget": {"minAvailable": 1 if replicas > 1 else 0},
    }
    service: dict[str, Any] = {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}
    provider = plan.metadata.provider
    if provider == "azure":
        service["annotations"] = {
            "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path":
                "/ready"}
    elif provider == "onprem":
        address = gateway_address(plan, cluster)
        service["annotations"] = {"metallb.io/address-pool": METALLB_POOL,
                                  **({"metallb.io/loadBalancerIPs": address} if address else {})}
    container_security = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                          "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
                          "seccompProfile": {"type": "RuntimeDefault"}}
    envoy_proxy = obj("gateway.envoyproxy.io/v1alpha1", "EnvoyProxy", ENVOY_PROXY,
                      GATEWAY_NAMESPACE, labels=MANAGED_BY, spec={"provider": {
                          "type": "Kubernetes", "kubernetes": {
                              "envoyDeployment": {
                                  "replicas": replicas,
                                  "pod": {"securityContext": {
                                      "runAsNonRoot": True,
                                      "seccompProfile": {"type": "RuntimeDefault"}}},
                                  "container": {"securityContext": container_security}},
                              "envoyPDB": {"minAvailable": 1} if replicas > 1 else {},
                              "envoyService": service}}})
    if replicas <= 1:
        del envoy_proxy["spec"]["provider"]["kubernetes"]["envoyPDB"]
    gateway_class = obj(GATEWAY_API, "GatewayClass", "eg", labels=MANAGED_BY, spec={
        "controllerName": str(plan.decision("ingress").parameters["controllerName"]),
        "parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy",
                          "name": ENVOY_PROXY, "namespace": GATEWAY_NAMESPACE}})
    gateway_ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}
    client_policy = obj("gateway.envoyproxy.io/v1alpha1", "ClientTrafficPolicy", GATEWAY,
                        GATEWAY_NAMESPACE, labels=MANAGED_BY, spec={
                            "targetRefs": [gateway_ref],
                            "tls": {"minVersion": "1.2"},
                            "headers": {"withUnderscoresAction": "RejectRequest"},
                            "timeout": {"http": {"requestReceivedTimeout": "30s"}},
                            "connection": {"bufferLimit": "32768"}})
    objects = (gateway_class, envoy_proxy, _certificate(plan, cluster),
               _gateway(plan, "eg", _listeners(plan, cluster, TLS_SECRET)), client_policy,
               *_routes(plan, cluster), *_previews_egress(plan, cluster))
    deps = ["gateway-api-crds", "envoy-gateway-crds"]
    controller = Addon(name="envoy-gateway", namespace=GATEWAY_NAMESPACE, phase="core",
                       chart="gateway-helm", values=values, objects=objects,
                       depends_on=tuple(deps))
    crds = Addon(name="envoy-gateway-crds", namespace=GATEWAY_NAMESPACE, phase="crds",
                 chart="envoy-gateway-crds")
    return [_gateway_api_crds(), crds, controller]


def _istio(plan: Plan, cluster: Cluster) -> list[Addon]:
    # Istio (istiod) comes from the service_mesh block when the mesh is Istio; otherwise the
    # gateway brings its own control plane.
    objects = (_certificate(plan, cluster),
               _gateway(plan, "istio", _listeners(plan, cluster, TLS_SECRET)),
               *_routes(plan, cluster), *_previews_egress(plan, cluster))
    out = [_gateway_api_crds()]
    if plan.choice("service_mesh") != "istio":
        out += [Addon(name="istio-base", namespace="istio-system", phase="crds",
                      chart="istio-base"),
                Addon(name="istiod", namespace="istio-system", phase="core", chart="istiod",
                      values={"pilot": {"replicaCount": _replicas(plan, cluster)}},
                      depends_on=("istio-base",))]
    out.append(Addon(name="gateway", namespace=GATEWAY_NAMESPACE, phase="config",
                     objects=objects, objects_phase="config"))
    return out


def _cilium(plan: Plan, cluster: Cluster) -> list[Addon]:
    objects = (_certificate(plan, cluster),
               _gateway(plan, "cilium", _listeners(plan, cluster, TLS_SECRET)),
               *_routes(plan, cluster))
    return [_gateway_api_crds(),
            Addon(name="gateway", namespace=GATEWAY_NAMESPACE, phase="config",
                  objects=objects, objects_phase="config")]


def _previews_egress(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    """In-cluster proxies in the gateway namespace reach the preview namespaces (behind the
    mesh, the in-mesh gateway does instead)."""
    if _previews(plan, cluster) and not mesh_gateway(plan):
        return [gateway_to_previews(GATEWAY_NAMESPACE)]
    return []


def _edge(plan: Plan, cluster: Cluster) -> list[Addon]:
    choice = plan.choice("ingress")
    if choice == "gke-gateway":
        return _gke(plan, cluster)
    if choice == "aws-load-balancer-controller":
        return _aws(plan, cluster)
    if choice == "envoy-gateway":
        return _envoy(plan, cluster)
    if choice == "istio-gateway":
        return _istio(plan, cluster)
    if choice == "cilium-gateway":
        return _cilium(plan, cluster)
    # application-gateway-for-containers is refused by the rule (no pinned chart or CRDs).
    return []


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    out = _edge(plan, cluster)
    if mesh_gateway(plan):
        out.append(_mesh_gateway(plan, cluster))
    return out
