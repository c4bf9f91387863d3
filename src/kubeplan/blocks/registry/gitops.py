"""registry in the cluster: Harbor, when the decision is Harbor.

What the chart expresses is rendered here: Trivy scanning, object storage for images, metrics,
credentials synced by External Secrets (admin password, secret keys, database password), and
the route through the shared gateway. Project quotas, retention and immutable-tag rules, robot
accounts, webhooks and replication rules live in Harbor's database: the `harbor` Terraform layer
sets them through Harbor's API (blocks/registry/terraform_harbor.py).

One Harbor serves the platform: production's, in its primary region and in the registry
decision's `replicateTo` site (`naming.harbor_regions`). Every cluster, of every environment,
pulls with its environment's pull-only robot: an ExternalSecret makes the `harbor-pull` Secret in
the application namespace and its default ServiceAccount names it.

Each Harbor is served at `naming.harbor_host` through the platform Gateway. Under a multi-cluster
Gateway (GKE, several production clusters) only the config cluster has that Gateway: it holds
the routes of every region's Harbor, each sending to a ServiceImport of its own name
(`harbor-<region>`), which only that region's cluster fills, through a Service selecting the
chart's nginx pods and its ServiceExport. A shared name would let the load balancer send one
site's host to the other site's Harbor.
"""

from __future__ import annotations

import json
from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import outputs, telemetry
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_STANDARD
from kubeplan.render.gitops.network import (
    GATEWAY_NAMESPACE,
    PLATFORM_GATEWAY,
    gateway_backend_ref,
    has_platform_gateway,
    multi_cluster_gateway,
    service_export,
)
from kubeplan.render.gitops.objects import MANAGED_BY, obj

NAMESPACE = "harbor"
RELEASE = "harbor"
ADMIN_SECRET = "harbor-admin"
CORE_SECRET = "harbor-core"
JOBSERVICE_SECRET = "harbor-jobservice"
REGISTRY_SECRET = "harbor-registry-http"
REGISTRY_CREDENTIALS = "harbor-registry-credentials"
DATABASE_SECRET = "harbor-database"
# The CA certificates of the database server, added to the trust store of every Harbor
# component that connects to it (the chart's `caBundleSecretName`: key `ca.crt`).
DATABASE_CA_SECRET = "harbor-database-ca"
STORAGE_SECRET = "harbor-storage"
# The chart's entry Service (expose.type clusterIP: `expose.clusterIP.name`, port
# `expose.clusterIP.ports.httpPort`) and what it selects: harbor-helm v1.19.1
# templates/nginx/service.yaml selects `harbor.matchLabels` (release, app: the chart name) and
# `component: nginx`; the nginx container listens on 8080 without TLS.
HTTP_PORT = 80
NGINX_PORT = 8080
NGINX_PODS = {"release": RELEASE, "app": "harbor", "component": "nginx"}


def _storage(plan: Plan, cluster: Cluster) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(persistence.imageChartStorage values, extra objects) per provider."""
    provider = plan.metadata.provider
    bucket = naming.bucket(plan, cluster.environment, "harbor", cluster.region)
    if provider == "gcp":
        return {"type": "gcs", "gcs": {"bucket": bucket, "useWorkloadIdentity": True}}, []
    if provider == "aws":
        return {"type": "s3", "s3": {"region": cluster.region, "bucket": bucket,
                                     "encrypt": True, "secure": True}}, []
    if provider == "azure":
        account = telemetry.storage_account(plan, cluster.environment)
        return {"type": "azure", "azure": {"accountname": account, "container": bucket,
                                           "existingSecret": STORAGE_SECRET}}, [
            telemetry.external_secret(STORAGE_SECRET, NAMESPACE, {
                "AZURE_STORAGE_ACCESS_KEY": telemetry.remote_key(plan, cluster,
                                                                 "harbor-storage-key")})]
    # On-prem: a bucket on Rook's RGW, claimed here; Harbor reads the S3 keys Rook puts in
    # the claim's Secret (renamed to the keys Harbor expects by an ExternalSecret template).
    b = telemetry.bucket(plan, cluster, "harbor")
    claim = telemetry.bucket_claim(b, NAMESPACE)
    return {"type": "s3", "s3": {"region": telemetry.ROOK_RGW_REGION, "bucket": b.name,
                                 "regionendpoint": f"http://{telemetry.ROOK_RGW_ENDPOINT}",
                                 "existingSecret": STORAGE_SECRET, "secure": False,
                                 "v4auth": True}}, [
        claim,
        telemetry.external_secret(STORAGE_SECRET, NAMESPACE, {
            "REGISTRY_STORAGE_S3_ACCESSKEY": telemetry.remote_key(plan, cluster,
                                                                  "harbor-s3-access-key"),
            "REGISTRY_STORAGE_S3_SECRETKEY": telemetry.remote_key(plan, cluster,
                                                                  "harbor-s3-secret-key")})]


PULL_SECRET = "harbor-pull"


def pull_entry(plan: Plan, cluster: Cluster, region: str) -> str:
    """The secret-store entry of the pull robot of the cluster's environment for the Harbor in
    `region` (written by the harbor Terraform layer: keys `username` and `password`)."""
    return telemetry.remote_key(plan, cluster, f"harbor-pull-{region}")


def _pull_credentials(plan: Plan, cluster: Cluster) -> Addon:
    data: dict[str, str] = {}
    auths: dict[str, dict[str, str]] = {}
    sources: dict[str, dict[str, str]] = {}
    for index, region in enumerate(naming.harbor_regions(plan)):
        entry = pull_entry(plan, cluster, region)
        for field in ("username", "password"):
            key = f"{field}{index}"
            data[key] = entry
            sources[key] = {"property": field}
        auths[naming.harbor_host(plan, region)] = {
            "username": f"{{{{ .username{index} }}}}", "password": f"{{{{ .password{index} }}}}"}
    secret = telemetry.external_secret(
        PULL_SECRET, naming.APP_NAMESPACE, data, secret_type="kubernetes.io/dockerconfigjson",
        template={".dockerconfigjson": json.dumps({"auths": auths}, sort_keys=True)},
        properties={k: v["property"] for k, v in sources.items()})
    # Pods of the namespace that name no pull secret of their own use this one.
    account = obj("v1", "ServiceAccount", "default", naming.APP_NAMESPACE, labels=MANAGED_BY)
    account["imagePullSecrets"] = [{"name": PULL_SECRET}]
    # An object-only unit (the objects name their namespace), kept with External Secrets, which
    # fills the Secret: add-ons never own the application namespace.
    return Addon(name=PULL_SECRET, namespace=naming.WORKLOADS["external-secrets"].namespace,
                 phase="apps", objects=(secret, account), objects_phase="apps")


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    if plan.choice("registry") != "harbor":
        return []
    pull = _pull_credentials(plan, cluster)
    if (cluster.environment != plan.topology.production
            or cluster.region not in naming.harbor_regions(plan)):
        return [pull]
    host = naming.harbor_host(plan, cluster.region)
    production = cluster.environment == plan.topology.production
    replicas = 2 if production else 1
    storage, storage_objects = _storage(plan, cluster)
    key = telemetry.remote_key
    values: dict[str, Any] = {
        # TLS ends at the shared gateway (its certificate covers *.<domain>).
        "expose": {"type": "clusterIP", "tls": {"enabled": False}},
        "externalURL": f"https://{host}",
        "persistence": {"enabled": True, "resourcePolicy": "keep",
                        "imageChartStorage": {"disableredirect": True, **storage}},
        "existingSecretAdminPassword": ADMIN_SECRET,
        "existingSecretAdminPasswordKey": "HARBOR_ADMIN_PASSWORD",
        "existingSecretSecretKey": CORE_SECRET,
        "core": {"replicas": replicas, "priorityClassName": PRIORITY_STANDARD,
                 "existingSecret": CORE_SECRET, "existingXsrfSecret": CORE_SECRET,
                 "existingXsrfSecretKey": "CSRF_KEY"},
        "jobservice": {"replicas": replicas, "existingSecret": JOBSERVICE_SECRET,
                       "existingSecretKey": "JOBSERVICE_SECRET"},
        "registry": {"replicas": replicas, "existingSecret": REGISTRY_SECRET,
                     "existingSecretKey": "REGISTRY_HTTP_SECRET",
                     "credentials": {"existingSecret": REGISTRY_CREDENTIALS}},
        "portal": {"replicas": replicas},
        "trivy": {"enabled": True, "replicas": replicas, "skipUpdate": False},
        # The chart's internal PostgreSQL takes its password only inline: an external one,
        # its password synced from the secret store, its certificate checked for the name.
        "database": {"type": "external", "external": {
            "host": _database_host(plan, cluster), "port": "5432",
            "username": "harbor", "coreDatabase": "registry",
            "existingSecret": DATABASE_SECRET, "sslmode": "verify-full"}},
        "metrics": {"enabled": True},
    }
    if _private_ca(plan):
        values["caBundleSecretName"] = DATABASE_CA_SECRET
    secrets = [
        telemetry.external_secret(ADMIN_SECRET, NAMESPACE, {
            "HARBOR_ADMIN_PASSWORD": key(plan, cluster, "harbor-admin-password")}),
        telemetry.external_secret(CORE_SECRET, NAMESPACE, {
            "secretKey": key(plan, cluster, "harbor-secret-key"),
            "secret": key(plan, cluster, "harbor-core-secret"),
            "CSRF_KEY": key(plan, cluster, "harbor-csrf-key"),
            "tls.crt": key(plan, cluster, "harbor-token-cert"),
            "tls.key": key(plan, cluster, "harbor-token-key")}),
        telemetry.external_secret(JOBSERVICE_SECRET, NAMESPACE, {
            "JOBSERVICE_SECRET": key(plan, cluster, "harbor-jobservice-secret")}),
        telemetry.external_secret(REGISTRY_SECRET, NAMESPACE, {
            "REGISTRY_HTTP_SECRET": key(plan, cluster, "harbor-registry-http-secret")}),
        telemetry.external_secret(
            REGISTRY_CREDENTIALS, NAMESPACE,
            {"REGISTRY_PASSWD": key(plan, cluster, "harbor-registry-password")},
            template={"REGISTRY_PASSWD": "{{ .REGISTRY_PASSWD }}",
                      "REGISTRY_HTPASSWD": '{{ htpasswd "harbor_registry_user" '
                                           '.REGISTRY_PASSWD }}'}),
        telemetry.external_secret(DATABASE_SECRET, NAMESPACE, {
            "password": key(plan, cluster, "harbor-database-password")}),
    ]
    if _private_ca(plan):
        # Public certificates in the secret store (terraform_harbor_database.py: written by
        # the registry layer on GCP, by the operator from AWS's published bundle on AWS),
        # synced like the credentials so no certificate sits in Git.
        secrets.append(telemetry.external_secret(DATABASE_CA_SECRET, NAMESPACE, {
            "ca.crt": key(plan, cluster, f"harbor-database-ca-{cluster.region}")}))
    # The credentials exist before Harbor starts (its pods mount them): their own unit.
    credentials = Addon(name=f"{RELEASE}-credentials", namespace=NAMESPACE, phase="platform",
                        objects=(*storage_objects, *secrets), objects_phase="platform")
    return [pull, credentials,
            Addon(name=RELEASE, namespace=NAMESPACE, phase="platform", chart="harbor",
                  values=values, objects=tuple(_exposure(plan, cluster)),
                  depends_on=(credentials.name,))]


def _private_ca(plan: Plan) -> bool:
    """Whether the database server's certificate chains to a CA Harbor's images do not trust:
    Cloud SQL's and RDS's do; Azure's chains to public roots (DigiCert, Microsoft), and the
    site's PostgreSQL on-prem is asked for a publicly trusted certificate."""
    return plan.metadata.provider in ("gcp", "aws")


def _database_host(plan: Plan, cluster: Cluster) -> str:
    """The name Harbor connects to, which the server certificate must carry (`verify-full`).
    On the clouds the registry layer's server's own name (Cloud SQL's DNS name, the RDS
    endpoint, the Flexible Server's FQDN), known after its apply: a platform output. On-prem
    the name the site's operators provision (`naming.harbor_database_host`)."""
    if plan.metadata.provider != "onprem":
        site = naming.harbor_regions(plan).index(cluster.region)
        return outputs.var(outputs.HARBOR_DATABASE_HOSTS[site])
    return naming.harbor_database_host(plan, cluster.region)


def _route(name: str, host: str, backend: dict[str, Any]) -> dict[str, Any]:
    return obj("gateway.networking.k8s.io/v1", "HTTPRoute", name, NAMESPACE, labels=MANAGED_BY,
               spec={"parentRefs": [{"name": PLATFORM_GATEWAY, "namespace": GATEWAY_NAMESPACE,
                                     "sectionName": "https"}],
                     "hostnames": [host],
                     "rules": [{"backendRefs": [backend]}]})


def regional_service(region: str) -> str:
    """Under a multi-cluster Gateway: the Service (and fleet ServiceImport) of one site's Harbor."""
    return f"{RELEASE}-{region}"


def _exposure(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    """How this cluster's Harbor is reached: its route on the cluster's own platform Gateway,
    or under a multi-cluster Gateway its export, plus (in the config cluster, which runs the
    primary Harbor: both are production's first cluster) the routes of every site."""
    environment = cluster.environment
    if not multi_cluster_gateway(plan, environment):
        return [_route(RELEASE, naming.harbor_host(plan, cluster.region),
                       {"name": RELEASE, "port": HTTP_PORT})]
    own = regional_service(cluster.region)
    service = obj("v1", "Service", own, NAMESPACE, labels=MANAGED_BY, spec={
        "type": "ClusterIP", "selector": dict(NGINX_PODS),
        "ports": [{"name": "http", "protocol": "TCP", "port": HTTP_PORT,
                   "targetPort": NGINX_PORT}]})
    out = [service, service_export(own, NAMESPACE)]
    if has_platform_gateway(plan, cluster):
        out += [_route(regional_service(region), naming.harbor_host(plan, region),
                       gateway_backend_ref(plan, environment, regional_service(region),
                                           HTTP_PORT))
                for region in naming.harbor_regions(plan)]
    return out
