"""Which `diagrams` node class draws each kind of box, per provider: data, not code.

A kind maps to one class for every provider (`"*"`) or to one per provider; the diagram module
resolves the dotted name lazily, so importing kubeplan does not import the diagrams library.
"""

from __future__ import annotations

ANY = "*"

ICONS: dict[str, dict[str, str]] = {
    "users": {ANY: "diagrams.onprem.client.Users"},
    "operators": {ANY: "diagrams.onprem.client.User"},
    "dns": {"gcp": "diagrams.gcp.network.DNS", "aws": "diagrams.aws.network.Route53",
            "azure": "diagrams.azure.network.DNSZones", "onprem": "diagrams.onprem.network.Bind9"},
    "cloudflare": {ANY: "diagrams.saas.cdn.Cloudflare"},
    "cdn": {"gcp": "diagrams.gcp.network.CDN", "aws": "diagrams.aws.network.CloudFront",
            "azure": "diagrams.azure.network.FrontDoors"},
    "lb-global": {"gcp": "diagrams.gcp.network.LoadBalancing",
                  "aws": "diagrams.aws.network.GlobalAccelerator",
                  "azure": "diagrams.azure.network.FrontDoors"},
    "lb-regional": {"gcp": "diagrams.gcp.network.LoadBalancing",
                    "aws": "diagrams.aws.network.ElbApplicationLoadBalancer",
                    "azure": "diagrams.azure.network.LoadBalancers",
                    "onprem": "diagrams.generic.network.Router"},
    "firewall": {"gcp": "diagrams.gcp.network.FirewallRules",
                 "aws": "diagrams.generic.network.Firewall",
                 "azure": "diagrams.azure.networking.NetworkSecurityGroups",
                 "onprem": "diagrams.generic.network.Firewall"},
    "nat": {"gcp": "diagrams.gcp.network.NAT", "aws": "diagrams.aws.network.NATGateway",
            "azure": "diagrams.azure.networking.Nat", "onprem": "diagrams.generic.network.Router"},
    "kubernetes": {"gcp": "diagrams.gcp.compute.KubernetesEngine",
                   "aws": "diagrams.aws.compute.ElasticKubernetesService",
                   "azure": "diagrams.azure.compute.KubernetesServices",
                   "onprem": "diagrams.k8s.infra.Master"},
    "services": {ANY: "diagrams.k8s.compute.Deploy"},
    "preview": {ANY: "diagrams.k8s.compute.Deploy"},
    # Gateway API implementations (the ingress block's choices).
    "gke-gateway": {ANY: "diagrams.k8s.network.Ing"},
    "aws-load-balancer-controller": {ANY: "diagrams.k8s.network.Ing"},
    "application-gateway-for-containers": {ANY: "diagrams.azure.network.ApplicationGateway"},
    "envoy-gateway": {ANY: "diagrams.onprem.network.Envoy"},
    "istio-gateway": {ANY: "diagrams.onprem.network.Istio"},
    "cilium-gateway": {ANY: "diagrams.k8s.network.Ing"},
    # Service meshes.
    "istio": {ANY: "diagrams.onprem.network.Istio"},
    "linkerd": {ANY: "diagrams.onprem.network.Linkerd"},
    "cilium": {ANY: "diagrams.k8s.network.Netpol"},
    # Administrative access (admin_access choice, per provider).
    "identity-aware-proxy": {"gcp": "diagrams.gcp.security.IAP",
                             "aws": "diagrams.aws.management.SystemsManager",
                             "azure": "diagrams.azure.identity.PrivateAccess",
                             "onprem": "diagrams.onprem.network.Pomerium"},
    "bastion": {"gcp": "diagrams.gcp.compute.ComputeEngine", "aws": "diagrams.aws.compute.EC2",
                "azure": "diagrams.azure.networking.Bastions",
                "onprem": "diagrams.generic.os.LinuxGeneral"},
    "vpn": {"aws": "diagrams.aws.network.ClientVpn",
            "azure": "diagrams.azure.network.VirtualNetworkGateways",
            ANY: "diagrams.generic.network.VPN"},
    # The SRE side.
    "prometheus": {ANY: "diagrams.onprem.monitoring.Prometheus"},
    "thanos": {ANY: "diagrams.onprem.monitoring.Thanos"},
    "alertmanager": {ANY: "diagrams.elastic.elasticsearch.Alerting"},
    "grafana": {ANY: "diagrams.onprem.monitoring.Grafana"},
    "loki": {ANY: "diagrams.onprem.logging.Loki"},
    "elasticsearch": {ANY: "diagrams.elastic.elasticsearch.Elasticsearch"},
    "provider-logging": {"gcp": "diagrams.gcp.operations.Logging",
                         "aws": "diagrams.aws.management.CloudwatchLogs",
                         "azure": "diagrams.azure.managementgovernance.Alerts",
                         "onprem": "diagrams.onprem.logging.Loki"},
    "tempo": {ANY: "diagrams.onprem.tracing.Tempo"},
    "jaeger": {ANY: "diagrams.onprem.tracing.Jaeger"},
    "velero": {ANY: "diagrams.k8s.compute.Cronjob"},
    "agents": {ANY: "diagrams.k8s.compute.DS"},
    # Alert receivers (spec.observability.alertReceivers types).
    "slack": {ANY: "diagrams.saas.chat.Slack"},
    "msteams": {ANY: "diagrams.saas.chat.Teams"},
    "pagerduty": {ANY: "diagrams.saas.alerting.Pagerduty"},
    "opsgenie": {ANY: "diagrams.saas.alerting.Opsgenie"},
    "email": {ANY: "diagrams.oci.monitoring.Email"},
    "webhook": {ANY: "diagrams.onprem.network.Internet"},
    # Storage.
    "object-storage": {"gcp": "diagrams.gcp.storage.Storage",
                       "aws": "diagrams.aws.storage.SimpleStorageServiceS3",
                       "azure": "diagrams.azure.storage.BlobStorage",
                       "onprem": "diagrams.onprem.storage.Ceph"},
    "block-storage": {"gcp": "diagrams.gcp.storage.PersistentDisk",
                      "aws": "diagrams.aws.storage.ElasticBlockStoreEBSVolume",
                      "azure": "diagrams.azure.compute.Disks",
                      "onprem": "diagrams.onprem.storage.Ceph"},
    "ceph": {ANY: "diagrams.onprem.storage.Ceph"},
    # Delivery.
    "registry": {"gcp": "diagrams.gcp.devtools.ContainerRegistry",
                 "aws": "diagrams.aws.compute.EC2ContainerRegistry",
                 "azure": "diagrams.azure.compute.ContainerRegistries"},
    "harbor": {ANY: "diagrams.onprem.registry.Harbor"},
    "github": {ANY: "diagrams.onprem.vcs.Github"},
    "gitlab": {ANY: "diagrams.onprem.vcs.Gitlab"},
    "github-actions": {ANY: "diagrams.onprem.ci.GithubActions"},
    "gitlab-ci": {ANY: "diagrams.onprem.ci.Gitlabci"},
    "git": {ANY: "diagrams.onprem.vcs.Git"},
    "argocd": {ANY: "diagrams.onprem.gitops.Argocd"},
    "flux": {ANY: "diagrams.onprem.gitops.Flux"},
}


def icon_class(kind: str, provider: str) -> str:
    """The dotted `diagrams` class for `kind` on `provider`."""
    options = ICONS[kind]
    found = options.get(provider) or options.get(ANY)
    if found is None:
        raise KeyError(f"no icon for {kind!r} on {provider!r}")
    return found
