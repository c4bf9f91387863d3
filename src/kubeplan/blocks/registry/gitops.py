"""registry in the cluster: Harbor, when the decision is Harbor.

What the chart expresses is rendered here: Trivy scanning, object storage for images, metrics,
credentials synced by External Secrets (admin password, secret keys, database password), and
the route through the shared gateway. Project quotas, retention and immutable-tag rules, robot
accounts, webhooks and replication rules live in Harbor's database and are set through its REST
API (or a Harbor Terraform provider); the chart has no values for them, so they are not
rendered. The robot account's token is read from the secret store for the CI.
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import telemetry
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_STANDARD
from kubeplan.render.gitops.network import GATEWAY_NAMESPACE
from kubeplan.render.gitops.objects import MANAGED_BY, obj

NAMESPACE = "harbor"
RELEASE = "harbor"
ADMIN_SECRET = "harbor-admin"
CORE_SECRET = "harbor-core"
JOBSERVICE_SECRET = "harbor-jobservice"
REGISTRY_SECRET = "harbor-registry-http"
REGISTRY_CREDENTIALS = "harbor-registry-credentials"
DATABASE_SECRET = "harbor-database"
STORAGE_SECRET = "harbor-storage"


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


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    if plan.choice("registry") != "harbor":
        return []
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
        # its password synced from the secret store.
        "database": {"type": "external", "external": {
            "host": naming.harbor_database_host(plan, cluster.region), "port": "5432",
            "username": "harbor", "coreDatabase": "registry",
            "existingSecret": DATABASE_SECRET, "sslmode": "verify-full"}},
        "metrics": {"enabled": True},
    }
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
    route = obj("gateway.networking.k8s.io/v1", "HTTPRoute", RELEASE, NAMESPACE,
                labels=MANAGED_BY, spec={
                    "parentRefs": [{"name": "platform", "namespace": GATEWAY_NAMESPACE,
                                    "sectionName": "https"}],
                    "hostnames": [host],
                    "rules": [{"backendRefs": [{"name": RELEASE, "port": 80}]}]})
    # The credentials exist before Harbor starts (its pods mount them): their own unit.
    credentials = Addon(name=f"{RELEASE}-credentials", namespace=NAMESPACE, phase="platform",
                        objects=(*storage_objects, *secrets), objects_phase="platform")
    return [credentials,
            Addon(name=RELEASE, namespace=NAMESPACE, phase="platform", chart="harbor",
                  values=values, objects=(route,), depends_on=(credentials.name,))]
