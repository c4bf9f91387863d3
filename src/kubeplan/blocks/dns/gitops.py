"""dns in the cluster: external-dns keeps the zone in step with the routes, and cert-manager
issues the gateway's certificates (ACME DNS-01 through the same DNS provider, or the platform's
private CA for names no public resolver answers).

Each cluster works in its environment's zone (the domain in production, the delegated
`<environment>.<domain>` elsewhere): external-dns publishes names under it only, and
cert-manager solves DNS-01 challenges there, the one zone that environment's identities may
write.

external-dns publishes the names of the routes on the platform Gateway only, from that
Gateway's address. Under a GKE multi-cluster Gateway only the config cluster has that Gateway,
so only its external-dns publishes the environment's names (the apex and wildcard among them);
the other clusters' external-dns finds no Gateway, so it creates nothing, and its own TXT owner
id keeps it from deleting records any other cluster owns (it removes only its own, such as
those left from before the clusters shared one Gateway, which the config cluster then takes).

Cloud credentials come from workload identity (GKE Workload Identity Federation, EKS Pod
Identity, Entra Workload ID) bound to the service accounts named in `naming.WORKLOADS`; the
on-prem TSIG key is synced from the secret store. No credential is written here.
"""

from __future__ import annotations

import json
from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import outputs, telemetry
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_CRITICAL, PRIORITY_STANDARD
from kubeplan.render.gitops.network import (
    GATEWAY_NAMESPACE,
    PLATFORM_GATEWAY,
    environment_zone,
    gateway_address,
)
from kubeplan.render.gitops.objects import MANAGED_BY, obj

CERT_MANAGER = "cert-manager"
EXTERNAL_DNS = "external-dns"
ACME_ISSUER = "letsencrypt"
ACME_SERVER = "https://acme-v02.api.letsencrypt.org/directory"
CA_ISSUER = "platform-ca"
CA_BOOTSTRAP = "selfsigned-bootstrap"
CA_SECRET = "platform-root-ca"
TSIG_SECRET = "rfc2136-tsig"
TSIG_KEY_NAME = "external-dns"
AZURE_CONFIG = "external-dns-azure"
# dns: multi-provider: the second instance writes the production zone's copy at Cloudflare.
CLOUDFLARE = f"{EXTERNAL_DNS}-cloudflare"
CLOUDFLARE_TOKEN_SECRET = "cloudflare-api-token"
CLOUDFLARE_TOKEN_ITEM = "cloudflare-dns-token"


def _production(plan: Plan, cluster: Cluster) -> bool:
    return cluster.environment == plan.topology.production


def _identity(plan: Plan, cluster: Cluster, component: str) -> tuple[dict[str, str],
                                                                      dict[str, str]]:
    """(service-account annotations, pod labels) for workload identity."""
    return (telemetry.identity_annotations(plan, cluster, component),
            telemetry.identity_pod_labels(plan))


def needs_cert_manager(plan: Plan) -> bool:
    """The gateway holds the certificates (not the provider's load balancer).

    Where the provider's load balancer terminates TLS (GKE certificate map, ACM), the edge
    layer's certificates also cover the preview environments' wildcard name.
    """
    return bool(plan.decision("ingress").parameters.get("certManager"))


def _solver(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    provider = plan.metadata.provider
    zone = environment_zone(plan, cluster.environment)
    if provider == "gcp":
        return {"cloudDNS": {"project": outputs.var("GCP_PROJECT_ID")}}
    if provider == "aws":
        # Ambient credentials of cert-manager's service account (EKS Pod Identity).
        return {"route53": {"region": cluster.region}}
    if provider == "azure":
        return {"azureDNS": {
            "subscriptionID": outputs.var("AZURE_SUBSCRIPTION_ID"),
            "resourceGroupName": outputs.var("AZURE_DNS_RESOURCE_GROUP"),
            "hostedZoneName": zone,
            "environment": "AzurePublicCloud",
            "managedIdentity": {"clientID": outputs.var(outputs.client_id_variable(
                CERT_MANAGER))}}}
    return {"rfc2136": {"nameserver": naming.dns_primary(plan),
                        "tsigKeyName": TSIG_KEY_NAME, "tsigAlgorithm": "HMACSHA256",
                        "tsigSecretSecretRef": {"name": TSIG_SECRET, "key": "secret"}}}


def _cert_manager(plan: Plan, cluster: Cluster) -> Addon:
    workload = naming.WORKLOADS[CERT_MANAGER]
    annotations, pod_labels = _identity(plan, cluster, CERT_MANAGER)
    replicas = 2 if _production(plan, cluster) else 1
    service_account: dict[str, Any] = {"create": True, "name": workload.service_account}
    if annotations:
        service_account["annotations"] = annotations
    values: dict[str, Any] = {
        "crds": {"enabled": True, "keep": True},
        "global": {"priorityClassName": PRIORITY_CRITICAL},
        "replicaCount": replicas,
        "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1}
        if replicas > 1 else {"enabled": False},
        "serviceAccount": service_account,
        # Certificates for Gateway listeners annotated with an issuer (gateway-shim).
        "config": {"apiVersion": "controller.config.cert-manager.io/v1alpha1",
                   "kind": "ControllerConfiguration", "enableGatewayAPI": True},
        "webhook": {"replicaCount": replicas},
        "cainjector": {"replicaCount": replicas},
    }
    if pod_labels:
        values["podLabels"] = pod_labels
    provider = plan.metadata.provider
    solver = _solver(plan, cluster)
    objects: list[dict[str, Any]] = [
        obj("cert-manager.io/v1", "ClusterIssuer", ACME_ISSUER, labels=MANAGED_BY, spec={
            "acme": {
                "server": ACME_SERVER,
                # The ACME account key is generated in the cluster, never stored in Git.
                "privateKeySecretRef": {"name": f"{ACME_ISSUER}-account"},
                "solvers": [{"selector": {"dnsZones": [
                    environment_zone(plan, cluster.environment)]},
                             "dns01": solver}],
            }}),
    ]
    if provider == "onprem":
        objects.append(telemetry.external_secret(
            TSIG_SECRET, workload.namespace,
            {"secret": telemetry.remote_key(plan, cluster, "dns-tsig-key")}))
        # A private CA for names only the sites resolve (internal endpoints, Harbor replication).
        objects += [
            obj("cert-manager.io/v1", "ClusterIssuer", CA_BOOTSTRAP, labels=MANAGED_BY,
                spec={"selfSigned": {}}),
            obj("cert-manager.io/v1", "Certificate", CA_SECRET, workload.namespace,
                labels=MANAGED_BY, spec={
                    "isCA": True, "commonName": f"{plan.metadata.name} platform root CA",
                    "secretName": CA_SECRET, "duration": "87600h0m0s",
                    "privateKey": {"algorithm": "ECDSA", "size": 256,
                                   "rotationPolicy": "Always"},
                    "issuerRef": {"name": CA_BOOTSTRAP, "kind": "ClusterIssuer",
                                  "group": "cert-manager.io"}}),
            obj("cert-manager.io/v1", "ClusterIssuer", CA_ISSUER, labels=MANAGED_BY,
                spec={"ca": {"secretName": CA_SECRET}}),
        ]
    return Addon(name=CERT_MANAGER, namespace=workload.namespace, phase="core",
                 chart=CERT_MANAGER, values=values, objects=tuple(objects))


def _external_dns(plan: Plan, cluster: Cluster) -> list[Addon]:
    params = plan.decision("dns").parameters
    workload = naming.WORKLOADS[EXTERNAL_DNS]
    provider_name = str(params["externalDnsProvider"])
    annotations, pod_labels = _identity(plan, cluster, EXTERNAL_DNS)
    address = gateway_address(plan, cluster)
    zone = environment_zone(plan, cluster.environment)
    # Routes publish their hostnames; records Terraform owns (Global Accelerator, Front Door)
    # carry no external-dns ownership record, so they are never overwritten. On-prem the
    # gateway's address is fixed and declared as DNSEndpoint records (the `crd` source).
    sources = ["gateway-httproute", *(["crd"] if address else [])]
    service_account: dict[str, Any] = {"create": True, "name": workload.service_account}
    if annotations:
        service_account["annotations"] = annotations
    # Names point at the platform Gateway, the one the internet reaches: behind the mesh, the
    # routes on the in-mesh gateway (a cluster-internal address) are served through the edge
    # route's names instead.
    args: list[str] = [f"--gateway-name={PLATFORM_GATEWAY}",
                       f"--gateway-namespace={GATEWAY_NAMESPACE}"]
    extra: list[Addon] = []
    values: dict[str, Any] = {
        "provider": {"name": provider_name},
        "serviceAccount": service_account,
        "priorityClassName": PRIORITY_STANDARD,
        "sources": sources,
        # The environment's names only (on-prem its part of the one BIND zone).
        "domainFilters": [zone],
        # Sync deletes records whose route is gone; the TXT registry limits it to our records,
        # and each cluster owns its own (several clusters may serve one environment), so a
        # cluster without the platform Gateway never deletes another's.
        "policy": "sync",
        "registry": "txt",
        "txtOwnerId": f"{params['txtOwnerId']}-{cluster.name}",
        "txtPrefix": "extdns-",
        "interval": "1m",
    }
    if pod_labels:
        values["podLabels"] = pod_labels
    if provider_name == "google":
        args.append("--google-zone-visibility=public")
    elif provider_name == "aws":
        args += ["--aws-zone-type=public", f"--aws-region={cluster.region}"]
    elif provider_name == "azure":
        # The Azure provider reads its settings from a file; nothing in it is secret.
        config = obj("v1", "ConfigMap", AZURE_CONFIG, workload.namespace, labels=MANAGED_BY,
                     data={"azure.json": _json({
                         "tenantId": outputs.var("AZURE_TENANT_ID"),
                         "subscriptionId": outputs.var("AZURE_SUBSCRIPTION_ID"),
                         "resourceGroup": outputs.var("AZURE_DNS_RESOURCE_GROUP"),
                         "useWorkloadIdentityExtension": True})})
        # An object-only add-on before the chart: the pod mounts it at start.
        extra.append(Addon(name=AZURE_CONFIG, namespace=workload.namespace, phase="core",
                           objects=(config,), objects_phase="core"))
        values["extraVolumes"] = [{"name": "azure-config",
                                   "configMap": {"name": AZURE_CONFIG}}]
        values["extraVolumeMounts"] = [{"name": "azure-config", "mountPath": "/etc/kubernetes",
                                        "readOnly": True}]
    elif provider_name == "rfc2136":
        args += [f"--rfc2136-host={naming.dns_primary(plan)}", "--rfc2136-port=53",
                 f"--rfc2136-zone={params['zone']}", f"--rfc2136-tsig-keyname={TSIG_KEY_NAME}",
                 "--rfc2136-tsig-secret-alg=hmac-sha256", "--rfc2136-tsig-axfr"]
        values["env"] = [{"name": "EXTERNAL_DNS_RFC2136_TSIG_SECRET",
                          "valueFrom": {"secretKeyRef": {"name": TSIG_SECRET,
                                                         "key": "secret"}}}]
        extra.append(Addon(name=f"{EXTERNAL_DNS}-tsig", namespace=workload.namespace,
                           phase="platform", objects_phase="platform", objects=(
                               telemetry.external_secret(
                                   TSIG_SECRET, workload.namespace,
                                   {"secret": telemetry.remote_key(plan, cluster,
                                                                   "dns-tsig-key")}),)))
    if args:
        values["extraArgs"] = args
    objects: list[dict[str, Any]] = []
    if address is not None:
        extra.append(Addon(name=f"{EXTERNAL_DNS}-crds", namespace=workload.namespace,
                           phase="crds", chart=f"{EXTERNAL_DNS}-crds"))
        # The gateway's address is fixed on-prem (MetalLB), so the records are declared.
        objects.append(obj("externaldns.k8s.io/v1alpha1", "DNSEndpoint", "platform",
                           GATEWAY_NAMESPACE, labels=MANAGED_BY, spec={"endpoints": [
                               {"dnsName": name, "recordType": "A", "recordTTL": 300,
                                "targets": [address]}
                               for name in (zone, f"*.{zone}")]}))
    depends = tuple(a.name for a in extra)
    addon = Addon(name=EXTERNAL_DNS, namespace=workload.namespace, phase="platform",
                  chart=EXTERNAL_DNS, values=values, objects=tuple(objects),
                  depends_on=depends)
    out = [*extra, addon]
    if params.get("secondaryProvider") == "cloudflare" and _production(plan, cluster):
        out += _cloudflare(plan, cluster, values, depends)
    return out


def _cloudflare(plan: Plan, cluster: Cluster, primary: dict[str, Any],
                depends: tuple[str, ...]) -> list[Addon]:
    """The second authoritative provider is written, not fed by zone transfer (Cloud DNS serves
    no AXFR): a second release of the chart publishes the same names from the same sources at
    Cloudflare. Its own release (so its own fullname, RBAC and service account), TXT owner and
    prefix keep its registry apart from the first instance's; records are DNS only (the chart
    passes no --cloudflare-proxied), since the CDN and TLS are the cloud load balancer's. The
    API token comes from the secret store, scoped to the zone (Zone Read, DNS Write)."""
    namespace = naming.WORKLOADS[EXTERNAL_DNS].namespace
    token = Addon(name=f"{CLOUDFLARE}-token", namespace=namespace, phase="platform",
                  objects_phase="platform", objects=(telemetry.external_secret(
                      CLOUDFLARE_TOKEN_SECRET, namespace,
                      {"api-token": telemetry.remote_key(plan, cluster,
                                                         CLOUDFLARE_TOKEN_ITEM)}),))
    # Only the flags that select the provider's zone and the Gateway carry over.
    args = [a for a in primary.get("extraArgs", []) if a.startswith("--gateway-")]
    values: dict[str, Any] = {
        "provider": {"name": "cloudflare"},
        "serviceAccount": {"create": True, "name": CLOUDFLARE},
        "priorityClassName": primary["priorityClassName"],
        "sources": primary["sources"],
        "domainFilters": primary["domainFilters"],
        "policy": primary["policy"],
        "registry": "txt",
        "txtOwnerId": f"{primary['txtOwnerId']}-cloudflare",
        "txtPrefix": "extdns-cf-",
        "interval": primary["interval"],
        "env": [{"name": "CF_API_TOKEN",
                 "valueFrom": {"secretKeyRef": {"name": CLOUDFLARE_TOKEN_SECRET,
                                                "key": "api-token"}}}],
        "extraArgs": args,
    }
    # The DNSEndpoint records (a fixed gateway address) come from the first instance's CRDs.
    return [token, Addon(name=CLOUDFLARE, namespace=namespace, phase="platform",
                         chart=EXTERNAL_DNS, values=values,
                         depends_on=(*depends, token.name))]


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    out = _external_dns(plan, cluster)
    if needs_cert_manager(plan):
        out.insert(0, _cert_manager(plan, cluster))
    return out
