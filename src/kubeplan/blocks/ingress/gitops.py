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
attach to that gateway instead of the edge.
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_CRITICAL
from kubeplan.render.gitops.network import (
    GATEWAY_NAMESPACE,
    MESH_GATEWAY,
    MESH_GATEWAY_NAMESPACE,
    MESH_GATEWAY_SERVICE,
    PLATFORM_GATEWAY,
    app_parent_ref,
    gateway_address,
    mesh_gateway,
)
from kubeplan.render.gitops.objects import MANAGED_BY, TIER_LABEL, obj

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


def _production(plan: Plan, cluster: Cluster) -> bool:
    return cluster.environment == plan.topology.production


def _replicas(plan: Plan, cluster: Cluster) -> int:
    return 2 if _production(plan, cluster) else 1


def _listeners(plan: Plan, tls_secret: str | None) -> list[dict[str, Any]]:
    # Routes from every kubeplan namespace (platform add-ons, applications, previews) may
    # attach; the routes' hostnames stay under the platform's domain.
    allowed = {"namespaces": {"from": "Selector", "selector": {"matchExpressions": [
        {"key": TIER_LABEL, "operator": "Exists"}]}}}
    https: dict[str, Any] = {"name": "https", "protocol": "HTTPS", "port": 443,
                             "allowedRoutes": allowed}
    if tls_secret:
        https["tls"] = {"mode": "Terminate", "certificateRefs": [{"kind": "Secret",
                                                                  "name": tls_secret}]}
    return [{"name": "http", "protocol": "HTTP", "port": 80,
             "allowedRoutes": {"namespaces": {"from": "Same"}}}, https]


def _gateway(plan: Plan, class_name: str, listeners: list[dict[str, Any]], *,
             annotations: dict[str, str] | None = None,
             infrastructure: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"gatewayClassName": class_name, "listeners": listeners}
    if infrastructure:
        spec["infrastructure"] = infrastructure
    return obj(GATEWAY_API, "Gateway", GATEWAY, GATEWAY_NAMESPACE, labels=MANAGED_BY,
               annotations=annotations, spec=spec)


def _routes(plan: Plan) -> list[dict[str, Any]]:
    domain = plan.metadata.domain
    parent = {"name": GATEWAY, "namespace": GATEWAY_NAMESPACE}
    app_parent = app_parent_ref(plan)
    return [
        obj(GATEWAY_API, "HTTPRoute", "https-redirect", GATEWAY_NAMESPACE, labels=MANAGED_BY,
            spec={"parentRefs": [{**parent, "sectionName": "http"}],
                  "rules": [{"filters": [{"type": "RequestRedirect", "requestRedirect": {
                      "scheme": "https", "statusCode": 301}}]}]}),
        # The domain's root: the application's entry Service (the delivery pipeline deploys it).
        obj(GATEWAY_API, "HTTPRoute", "platform", naming.APP_NAMESPACE, labels=MANAGED_BY,
            spec={"parentRefs": [app_parent],
                  "hostnames": [domain],
                  "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                             "backendRefs": [{"name": naming.APP_ENTRY_SERVICE,
                                              "port": 80}]}]}),
    ]


def _certificate(plan: Plan) -> dict[str, Any]:
    domain = plan.metadata.domain
    return obj("cert-manager.io/v1", "Certificate", CERTIFICATE, GATEWAY_NAMESPACE,
               labels=MANAGED_BY, spec={
                   "secretName": TLS_SECRET, "dnsNames": [domain, f"*.{domain}"],
                   "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                   "issuerRef": {"name": ACME_ISSUER, "kind": "ClusterIssuer",
                                 "group": "cert-manager.io"}})


def _mesh_gateway(plan: Plan) -> Addon:
    """The Istio gateway that is the edge's only backend, the edge's route to it and the
    provider's backend settings for its Service."""
    domain = plan.metadata.domain
    choice = plan.choice("ingress")
    # The ALB's Gateway has one HTTPS listener for the apex and one for the subdomains.
    sections = (["https", "https-subdomains"] if choice == "aws-load-balancer-controller"
                else ["https"])
    objects: list[dict[str, Any]] = [
        # Istio's recommended Gateway API deployment: istiod creates the proxies' Deployment
        # and Service from this Gateway. The edge terminates TLS, so the Service stays
        # cluster-internal (container-native load balancing reaches its pods directly).
        obj(GATEWAY_API, "Gateway", MESH_GATEWAY, MESH_GATEWAY_NAMESPACE, labels=MANAGED_BY,
            annotations={"networking.istio.io/service-type": "ClusterIP"},
            spec={"gatewayClassName": "istio", "listeners": [{
                "name": "http", "protocol": "HTTP", "port": MESH_GATEWAY_PORT,
                "allowedRoutes": {"namespaces": {
                    "from": "Selector", "selector": {"matchExpressions": [
                        {"key": TIER_LABEL, "operator": "Exists"}]}}}}]}),
        # Same namespace as the Service it sends to, so no ReferenceGrant is needed.
        obj(GATEWAY_API, "HTTPRoute", "mesh-gateway", MESH_GATEWAY_NAMESPACE,
            labels=MANAGED_BY, spec={
                "parentRefs": [{"name": GATEWAY, "namespace": GATEWAY_NAMESPACE,
                                "sectionName": section} for section in sections],
                "hostnames": [domain, f"*.{domain}"],
                "rules": [{"backendRefs": [{"name": MESH_GATEWAY_SERVICE,
                                            "port": MESH_GATEWAY_PORT}]}]}),
    ]
    if choice == "gke-gateway":
        objects += _gke_backend_policies(MESH_GATEWAY_NAMESPACE, MESH_GATEWAY_SERVICE,
                                         MESH_GATEWAY_STATUS_PORT, MESH_GATEWAY_READY_PATH)
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


def _gke_backend_policies(namespace: str, service: str, health_port: int,
                          health_path: str) -> list[dict[str, Any]]:
    """Logging, draining and the health check of the load balancer's backend Service."""
    target = {"group": "", "kind": "Service", "name": service}
    return [
        obj("networking.gke.io/v1", "GCPBackendPolicy", service, namespace, labels=MANAGED_BY,
            spec={"default": {"logging": {"enabled": True, "sampleRate": 100000},
                              "timeoutSec": 30,
                              "connectionDraining": {"drainingTimeoutSec": 30}},
                  "targetRef": target}),
        obj("networking.gke.io/v1", "HealthCheckPolicy", service, namespace, labels=MANAGED_BY,
            spec={"default": {"checkIntervalSec": 5, "timeoutSec": 5, "healthyThreshold": 2,
                              "unhealthyThreshold": 3, "logConfig": {"enabled": True},
                              "config": {"type": "HTTP", "httpHealthCheck": {
                                  "port": health_port, "requestPath": health_path}}},
                  "targetRef": target}),
    ]


def _gke(plan: Plan, cluster: Cluster) -> list[Addon]:
    params = plan.decision("ingress").parameters
    class_name = str(params["gatewayClassName"])
    cert_manager = bool(params.get("certManager"))
    annotations = None
    objects: list[dict[str, Any]] = []
    if cert_manager:
        objects.append(_certificate(plan))
    else:
        # Google-managed certificates in the Certificate Manager map the edge layer creates.
        annotations = {"networking.gke.io/certmap": naming.certificate_map(
            plan, cluster.environment)}
    gateway_ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}
    objects += [
        _gateway(plan, class_name, _listeners(plan, TLS_SECRET if cert_manager else None),
                 annotations=annotations),
        obj("networking.gke.io/v1", "GCPGatewayPolicy", GATEWAY, GATEWAY_NAMESPACE,
            labels=MANAGED_BY, spec={
                "default": {"sslPolicy": naming.ssl_policy(plan, cluster.environment)},
                "targetRef": gateway_ref}),
    ]
    if not mesh_gateway(plan):
        # Otherwise the load balancer's backend is the mesh gateway (see _mesh_gateway).
        objects += _gke_backend_policies(naming.APP_NAMESPACE, naming.APP_ENTRY_SERVICE, 80,
                                         "/healthz")
    objects += _routes(plan)
    # GKE installs and upgrades the Gateway API CRDs itself: nothing to install here.
    return [Addon(name="gateway", namespace=GATEWAY_NAMESPACE, phase="config",
                  objects=tuple(objects), objects_phase="config")]


def _aws(plan: Plan, cluster: Cluster) -> list[Addon]:
    workload = naming.WORKLOADS["aws-load-balancer-controller"]
    domain = plan.metadata.domain
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
    listeners = _listeners(plan, None)
    listeners[1]["hostname"] = domain
    listeners.append({**listeners[1], "name": "https-subdomains", "hostname": f"*.{domain}"})
    gateway_class = obj(GATEWAY_API, "GatewayClass", "alb", labels=MANAGED_BY, spec={
        "controllerName": str(plan.decision("ingress").parameters["controllerName"])})
    gateway = _gateway(plan, "alb", listeners, infrastructure={"parametersRef": {
        "group": "gateway.k8s.aws", "kind": "LoadBalancerConfiguration", "name": LB_CONFIG}})
    controller = Addon(name="aws-load-balancer-controller", namespace=workload.namespace,
                       phase="core", chart="aws-load-balancer-controller", values=values,
                       depends_on=("gateway-api-crds",),
                       objects=(gateway_class, lb_config, gateway, *_routes(plan)))
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
    objects = (gateway_class, envoy_proxy, _certificate(plan),
               _gateway(plan, "eg", _listeners(plan, TLS_SECRET)), client_policy,
               *_routes(plan))
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
    objects = (_certificate(plan), _gateway(plan, "istio", _listeners(plan, TLS_SECRET)),
               *_routes(plan))
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
    objects = (_certificate(plan), _gateway(plan, "cilium", _listeners(plan, TLS_SECRET)),
               *_routes(plan))
    return [_gateway_api_crds(),
            Addon(name="gateway", namespace=GATEWAY_NAMESPACE, phase="config",
                  objects=objects, objects_phase="config")]


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
    # application-gateway-for-containers: no pinned chart or CRDs to render and prove.
    return []


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    out = _edge(plan, cluster)
    if mesh_gateway(plan):
        out.append(_mesh_gateway(plan))
    return out
