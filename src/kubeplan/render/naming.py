"""Names shared by every target, so Terraform, the GitOps tree, pipelines and docs agree
without anything being copied by hand: buckets, cloud identities, namespaces and service
accounts of the in-cluster components, Terraform layers and their apply order.

Terraform also publishes these as outputs; the GitOps tree uses the same functions, so a
rename happens in one place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kubeplan.model import Plan

# Terraform root modules per environment, in apply order (the runbook and the platform
# pipeline follow this list).
TERRAFORM_LAYERS: tuple[str, ...] = ("network", "access", "cluster", "edge", "registry", "storage",
                                     "harbor")
# Layers that configure a service the GitOps tree runs (Harbor's API): applied once the first
# sync has it running, so they hand nothing over to the GitOps tree and the platform pipeline
# does not apply them before the sync.
AFTER_GITOPS_LAYERS: tuple[str, ...] = ("harbor",)


@dataclass(frozen=True)
class Workload:
    """An in-cluster component that talks to the cloud through workload identity."""

    namespace: str
    service_account: str


# component -> where it runs. Cloud identities (GCP service accounts, IAM roles for service
# accounts, Azure user-assigned identities with federated credentials) are bound to these.
WORKLOADS: dict[str, Workload] = {
    "external-dns": Workload("external-dns", "external-dns"),
    "cert-manager": Workload("cert-manager", "cert-manager"),
    "external-secrets": Workload("external-secrets", "external-secrets"),
    "velero": Workload("velero", "velero"),
    "loki": Workload("logging", "loki"),
    "tempo": Workload("tracing", "tempo"),
    "thanos": Workload("monitoring", "thanos"),
    "aws-load-balancer-controller": Workload("kube-system", "aws-load-balancer-controller"),
}

# Buckets the storage layer creates; purpose -> what it holds.
BUCKET_PURPOSES: dict[str, str] = {
    "velero": "Velero backups of cluster objects and volume snapshots",
    "loki": "Loki log chunks and indexes",
    "tempo": "Tempo trace blocks",
    "thanos": "Thanos long-term metric blocks",
    "etcd": "etcd snapshots of self-managed control planes",
    "harbor": "Harbor's image and chart storage",
}


def _suffix(plan: Plan) -> str:
    """A short, stable suffix from the domain: bucket names are global across all customers."""
    return hashlib.sha256(plan.metadata.domain.encode()).hexdigest()[:6]


def bucket(plan: Plan, environment: str, purpose: str, region: str | None = None) -> str:
    """Globally unique, lower-case, <= 63 characters (GCS, S3 and Azure containers agree)."""
    if purpose not in BUCKET_PURPOSES:
        raise KeyError(f"unknown bucket purpose {purpose!r}")
    parts = [plan.metadata.name, environment, purpose]
    if region:
        parts.append(region)
    name = "-".join(parts)[: 63 - 7].rstrip("-")
    return f"{name}-{_suffix(plan)}"


def identity(plan: Plan, environment: str, component: str) -> str:
    """A cloud identity name for `component` (GCP service-account ids allow 6-30 characters)."""
    if component not in WORKLOADS:
        raise KeyError(f"unknown workload {component!r}")
    short = {"external-dns": "xdns", "cert-manager": "certs", "external-secrets": "eso",
             "aws-load-balancer-controller": "albc"}.get(component, component)
    return f"{plan.metadata.name[:14]}-{environment[:8]}-{short}"[:30].rstrip("-")


def environments(plan: Plan) -> tuple[str, ...]:
    return plan.metadata.environments


# The namespace application teams deploy into: the GitOps baseline gives it quotas, limits, RBAC
# and network policy; preview environments get namespaces of their own.
APP_NAMESPACE = "apps"

# Kubernetes RBAC groups the GitOps baseline binds. The cluster layer maps the provider's
# identities to these names (EKS access entries' kubernetes_groups; on GKE and AKS the subjects
# must be the Google group's address or the Entra group's object id, mapped there).
PLATFORM_ADMINS_GROUP = "platform-admins"
APP_DEVELOPERS_GROUP = "app-developers"

# The Git host each CI choice implies, for the repository the built tree is pushed to.
GIT_HOSTS = {"github-actions": "github.com", "gitlab-ci": "gitlab.com"}
GITOPS_BRANCH = "main"


def gitops_repository(plan: Plan) -> str:
    """The Git repository holding the built tree, which Argo CD and Flux reconcile from.

    `spec.delivery.repository` when the spec has one; otherwise the convention
    `https://<CI's Git host>/<platform name>/<platform name>-platform.git`.
    """
    delivery = plan.inputs.get("delivery") or {}
    explicit = delivery.get("repository")
    if explicit:
        return str(explicit)
    host = GIT_HOSTS.get(str(delivery.get("ci", "")), "github.com")
    name = plan.metadata.name
    return f"https://{host}/{name}/{name}-platform.git"


# The Service the platform domain's root route sends to: the application's entry point.
APP_ENTRY_SERVICE = "web"


def cluster_resource_name(plan: Plan, cluster_name: str) -> str:
    """The provider's name of a cluster (GKE/EKS/AKS resource, kubeadm cluster name)."""
    return f"{plan.metadata.name}-{cluster_name}"[:40].rstrip("-")


def certificate_map(plan: Plan, environment: str) -> str:
    """GCP Certificate Manager map the edge layer creates for the global load balancer."""
    return f"{plan.metadata.name}-{environment}-certs"


def ssl_policy(plan: Plan, environment: str) -> str:
    """GCP SSL policy (TLS 1.2+, MODERN/RESTRICTED profile) the edge layer creates."""
    return f"{plan.metadata.name}-{environment}-tls"


def gateway_address(plan: Plan, environment: str) -> str:
    """GCP: the static address the edge layer reserves for an environment (global anycast, or
    regional in its primary region) and its GKE Gateway claims by name (NamedAddress), the
    address the DNS records point to."""
    return f"{plan.metadata.name}-{environment}-gateway"


def config_cluster(plan: Plan, environment: str) -> str | None:
    """The cluster that holds the multi-cluster Gateway's configuration when an environment has
    several clusters (they form one fleet): its first. The edge layer names this cluster's
    fleet membership as the multi-cluster ingress config membership, and the GitOps tree puts
    the one Gateway and its routes there. None for a single-cluster environment."""
    clusters = plan.topology.clusters_in(environment)
    return clusters[0].name if len(clusters) > 1 else None


def dns_primary(plan: Plan) -> str:
    """On-prem: the hidden primary BIND server that accepts RFC 2136 updates."""
    return f"dns-primary.{plan.metadata.domain}"


def vault_address(plan: Plan) -> str:
    """On-prem: HashiCorp Vault's API (outside the clusters, three Raft nodes)."""
    return f"https://vault.{plan.metadata.domain}:8200"


def kubernetes_api_host(plan: Plan, cluster_name: str) -> str:
    """Self-managed clusters: the control-plane endpoint (kubeadm controlPlaneEndpoint)."""
    return f"api.{cluster_resource_name(plan, cluster_name)}.{plan.metadata.domain}"


def secret_prefix(plan: Plan, environment: str) -> str:
    """What every secret-store entry of an environment starts with: `<platform>-<environment>-`
    (letters, digits and '-', valid in Secret Manager, Secrets Manager, Key Vault and Vault KV
    paths alike). The GitOps tree's entries and the store's access grants both use it."""
    return f"{plan.metadata.name}-{environment}-"


def edge_protection(plan: Plan) -> bool:
    """WAF and DDoS protection at the edge: asked for, or implied by a regulated posture."""
    inputs = plan.inputs
    return bool((inputs.get("traffic") or {}).get("ddosProtection")) or \
        (inputs.get("security") or {}).get("posture") == "regulated"


def edge_security_policy(plan: Plan, environment: str) -> str:
    """The Cloud Armor policy the edge layer creates: on the Gateway's backends, or with Cloud
    CDN in front (`cdn_in_front`) on the CDN's backend service, where the client IP is real."""
    return f"{plan.metadata.name}-{environment}-edge"


def cdn_in_front(plan: Plan) -> bool:
    """GCP: Cloud CDN's own global external Application Load Balancer fronts the GKE Gateway
    (cdn provider, a global Gateway whose certificate map and SSL policy it reuses, and a zone
    for its records). The edge policy then moves to the CDN, and the Gateway's backends admit
    only the CDN's requests (`origin_security_policy`), so the CDN cannot be bypassed."""
    return (plan.metadata.provider == "gcp" and plan.choice("cdn") == "provider"
            and plan.choice("load_balancer") == "global"
            and plan.choice("dns") in ("provider-managed", "multi-provider"))


def origin_security_policy(plan: Plan, environment: str) -> str:
    """The Cloud Armor policy the Gateway's backends attach when Cloud CDN is in front: only
    Google's front ends towards internet NEG backends (the CDN's origin fetches) get through."""
    return f"{plan.metadata.name}-{environment}-origin"


def harbor_regions(plan: Plan) -> list[str]:
    """Where Harbor runs: the production environment's primary region, plus the registry
    decision's `replicateTo` when production has a cluster there. One Harbor (and its replica)
    serves every environment; the others' clusters pull from it with robots of their own."""
    regions = [c.region for c in plan.topology.clusters_in(plan.topology.production)]
    second = str(plan.decision("registry").parameters.get("replicateTo") or "")
    out = [regions[0]]
    if second and second in regions and second != regions[0]:
        out.append(second)
    return out


def harbor_push_address(plan: Plan) -> str:
    """Where pipelines push in Harbor: the primary Harbor's application-team project."""
    return f"{harbor_host(plan, harbor_regions(plan)[0])}/{APP_NAMESPACE}"


def harbor_host(plan: Plan, region: str) -> str:
    """Harbor's public name in a region (site); the first region's is the push target."""
    return f"registry-{region}.{plan.metadata.domain}"


def harbor_database_host(plan: Plan, region: str) -> str:
    """Harbor's external PostgreSQL where the operator provisions it: the site's PostgreSQL
    on-prem. On a cloud Terraform creates it (Cloud SQL, RDS, Azure Flexible Server) and Harbor
    connects to the name its server certificate carries, handed over as a platform output."""
    return f"harbor-db-{region}.{plan.metadata.domain}"


def disk_encryption_key(plan: Plan, environment: str) -> str:
    """The customer-managed key (and key ring / alias / disk encryption set) for volumes."""
    return f"{plan.metadata.name}-{environment}-disks"


def resource_group(plan: Plan, environment: str) -> str:
    """Azure: the environment's resource group."""
    return f"{plan.metadata.name}-{environment}"
