"""The example service and its releases: the application side every pipeline is shown with.

The service repository holds the code, a Dockerfile with a `test` target and one kustomization
(`deploy/`). What an environment runs is not in that repository: it is a release file in the
platform repository (`delivery/releases/<environment>/<service>.yaml`) naming the commit, the
image and its digest. Promotions change those three values and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from kubeplan import catalogue
from kubeplan.model import Plan
from kubeplan.render.delivery import (
    APP_NAMESPACE,
    ARGOCD_NAMESPACE,
    DEFAULT_BRANCH,
    FLUX_NAMESPACE,
    IN_CLUSTER,
    SERVICE,
    SERVICE_PORT,
    repositories,
)
from kubeplan.render.gitops.network import (
    PLATFORM_GATEWAY,
    app_parent_ref,
    gateway_backend_ref,
    multi_cluster_gateway,
    service_export,
)

SOURCES = ("main.go", "main_test.go", "go.mod")
DEPLOY_PATH = "deploy"
# Argo CD projects: releases may only create Applications; applications only namespaced kinds.
RELEASES_PROJECT = "releases"
APPS_PROJECT = "applications"
PREVIEWS_PROJECT = "previews"
# The read-only token (repository contents and pull requests) the GitOps controller uses.
SCM_TOKEN_ITEM = "scm-read-token"
# The kinds a service's `deploy/` holds, by API group: what its Argo CD projects may create.
APP_KINDS = {"ServiceAccount": "", "Deployment": "apps", "Service": "",
             "HTTPRoute": "gateway.networking.k8s.io", "NetworkPolicy": "networking.k8s.io"}
# The port of the service's Service, which its HTTPRoute sends to.
ROUTE_PORT = 80
# Under a multi-cluster Gateway, release objects whose service routes attach to the platform
# Gateway carry this label: the releases unit of every cluster but the config cluster (the only
# one with that Gateway) drops their HTTPRoutes (`member_release_patch`).
FLEET_ROUTES_LABEL = {"kubeplan.dev/routes": "platform-gateway"}


def app_kind_whitelist() -> list[dict[str, str]]:
    return [{"group": group, "kind": kind} for kind, group in APP_KINDS.items()]


def source_files() -> dict[str, str]:
    folder = resources.files("kubeplan").joinpath("render/delivery/example_service")
    return {name: folder.joinpath(name).read_text("utf-8") for name in SOURCES}


def _image_ref(key: str) -> str:
    item = catalogue.image(key)
    ref = f"{item['image']}:{item['version']}"
    return f"{ref}@{item['digest']}" if item.get("digest") else ref


def dockerfile() -> str:
    """Build, test and runtime stages; only the runtime stage ships."""
    lines = [
        "# The `test` target runs in CI before the image is built; the final stage is what ships.",
        f"FROM {_image_ref('golang')} AS build",
        "WORKDIR /src",
        "COPY go.mod ./",
        "COPY *.go ./",
        'RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/service .',
        "",
        "FROM build AS test",
        "RUN go vet ./... && go test ./...",
        "",
        f"FROM {_image_ref('distroless-static')}",
        "COPY --from=build /out/service /service",
        "USER 65532:65532",
        f"EXPOSE {SERVICE_PORT}",
        'ENTRYPOINT ["/service"]',
    ]
    return "\n".join(lines) + "\n"


def hostname(plan: Plan, environment: str) -> str:
    domain = plan.metadata.domain
    if environment == plan.topology.production:
        return f"{SERVICE}.{domain}"
    return f"{SERVICE}.{environment}.{domain}"


def hostname_patch(host: str) -> dict[str, Any]:
    """A kustomize patch setting the service's HTTPRoute hostname (JSON 6902)."""
    ops = [{"op": "replace", "path": "/spec/hostnames", "value": [host]}]
    return {"target": {"kind": "HTTPRoute", "name": SERVICE},
            "patch": json.dumps(ops, separators=(",", ":"))}


def manifests(plan: Plan) -> dict[str, dict[str, Any]]:
    """`deploy/` of the service repository: file name -> object (plus the kustomization)."""
    labels = {"app.kubernetes.io/name": SERVICE}
    container = {
        "name": SERVICE,
        # Resolved by the release or preview (registry, digest or tag), never pulled as is.
        "image": SERVICE,
        "ports": [{"name": "http", "containerPort": SERVICE_PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"},
                      "limits": {"memory": "64Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": SERVICE, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": SERVICE,
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                        "runAsGroup": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": labels}}],
                    "containers": [container],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE, "labels": labels},
        "spec": {"selector": labels,
                 "ports": [{"name": "http", "port": ROUTE_PORT, "targetPort": "http"}]},
    }
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": SERVICE, "labels": labels},
        "spec": {
            "parentRefs": [app_parent_ref(plan)],
            # Each release and preview sets its own hostname.
            "hostnames": [hostname(plan, plan.topology.production)],
            "rules": [{"backendRefs": [{"name": SERVICE, "port": ROUTE_PORT}]}],
        },
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": SERVICE, "labels": labels},
               "automountServiceAccountToken": False}
    # The service's own policies, scoped to its pods: they hold in a preview namespace (whose
    # baseline Kyverno generates, where Kyverno is the engine) and add nothing beyond the
    # baseline in the application namespace. The
    # load balancer reaches pods directly (container-native) or through the gateway's proxies:
    # only the HTTP port is open, and only DNS leaves.
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"{SERVICE}-default-deny"},
            "spec": {"podSelector": {"matchLabels": labels},
                     "policyTypes": ["Ingress", "Egress"]}}
    allow = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": f"{SERVICE}-http"},
             "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Ingress"],
                      "ingress": [{"ports": [{"protocol": "TCP", "port": SERVICE_PORT}]}]}}
    dns = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": f"{SERVICE}-dns"},
           "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "kube-system"}}}],
                        "ports": [{"protocol": "UDP", "port": 53},
                                  {"protocol": "TCP", "port": 53}]}]}}
    objects: dict[str, dict[str, Any]] = {
        "serviceaccount.yaml": account,
        "deployment.yaml": deployment,
        "service.yaml": service,
        "httproute.yaml": route,
        "networkpolicy-default-deny.yaml": deny,
        "networkpolicy-http.yaml": allow,
        "networkpolicy-dns.yaml": dns,
    }
    for obj in objects.values():
        # Releases keep the application namespace; previews replace it (kustomize namespace
        # transformer).
        obj["metadata"]["namespace"] = APP_NAMESPACE
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "namespace": APP_NAMESPACE, "resources": list(objects)}
    return {"kustomization.yaml": kustomization, **objects}


def fleet_routes(plan: Plan, environment: str) -> bool:
    """Whether the service's routes attach to a multi-cluster Gateway in `environment`: they
    then belong in the config cluster alone, send to the fleet's ServiceImport, and every
    cluster exports the Service. Behind the mesh they attach to each cluster's in-mesh gateway
    (whose Service the ingress block exports) and send to the local Service, as anywhere else."""
    return (multi_cluster_gateway(plan, environment)
            and app_parent_ref(plan)["name"] == PLATFORM_GATEWAY)


def route_patch(plan: Plan, environment: str) -> dict[str, Any]:
    """The release's patch of the service's HTTPRoute: the environment's hostname and, under a
    multi-cluster Gateway, the ServiceImport as its backend."""
    patch = hostname_patch(hostname(plan, environment))
    if not fleet_routes(plan, environment):
        return patch
    ops = [*json.loads(patch["patch"]),
           {"op": "replace", "path": "/spec/rules/0/backendRefs",
            "value": [gateway_backend_ref(plan, environment, SERVICE, ROUTE_PORT)]}]
    return {**patch, "patch": json.dumps(ops, separators=(",", ":"))}


def release_documents(plan: Plan, environment: str) -> list[dict[str, Any]]:
    """What `environment` runs of the example service, before its first promotion: nothing
    (Argo CD without automated sync, Flux suspended) until a promotion sets the image. It runs
    in the application namespace the GitOps baseline prepares (quota, limits, RBAC, policy).
    Under a multi-cluster Gateway the release also exports the Service to the fleet: a
    platform-side object the releases unit applies in every cluster of the environment, which
    exists before the first promotion (it stays empty until the Service does)."""
    repos = repositories(plan)
    patches = [route_patch(plan, environment)]
    fleet = fleet_routes(plan, environment)
    labels = {"labels": dict(FLEET_ROUTES_LABEL)} if fleet else {}
    export = [service_export(SERVICE, APP_NAMESPACE)] if fleet else []
    if plan.choice("gitops") == "argocd":
        return [{
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": f"{SERVICE}-{environment}", "namespace": ARGOCD_NAMESPACE,
                         **labels},
            "spec": {
                "project": APPS_PROJECT,
                "source": {"repoURL": repos.service_url(SERVICE),
                           "targetRevision": DEFAULT_BRANCH, "path": DEPLOY_PATH,
                           "kustomize": {"patches": patches}},
                "destination": {"server": IN_CLUSTER, "namespace": APP_NAMESPACE},
                "syncPolicy": {"syncOptions": ["PruneLast=true"]},
            },
        }, *export]
    return [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": SERVICE, "namespace": FLUX_NAMESPACE},
         "spec": {"interval": "5m", "url": repos.service_url(SERVICE),
                  "ref": {"branch": DEFAULT_BRANCH},
                  "secretRef": {"name": scm_secret_name(plan)}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": SERVICE, "namespace": FLUX_NAMESPACE, **labels},
         "spec": {"suspend": True, "interval": "10m", "path": f"./{DEPLOY_PATH}",
                  "sourceRef": {"kind": "GitRepository", "name": SERVICE},
                  "targetNamespace": APP_NAMESPACE, "prune": True, "wait": True,
                  "timeout": "5m", "patches": patches}},
        *export,
    ]


def member_release_patch(plan: Plan) -> dict[str, Any]:
    """The patch the releases unit of a cluster without the platform Gateway (a multi-cluster
    Gateway's other clusters) lays over its environment's release folder: every release object
    labelled FLEET_ROUTES_LABEL gets one more patch of its own, deleting the service's
    HTTPRoutes, whose parent Gateway exists in the config cluster only (there the same release
    keeps them, sending to the ServiceImport this cluster's export fills)."""
    drop = {"target": {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
            "patch": json.dumps({"$patch": "delete", "apiVersion": "gateway.networking.k8s.io/v1",
                                 "kind": "HTTPRoute", "metadata": {"name": "any"}},
                                separators=(",", ":"))}
    if plan.choice("gitops") == "argocd":
        target = {"group": "argoproj.io", "kind": "Application"}
        path = "/spec/source/kustomize/patches/-"
    else:
        target = {"group": "kustomize.toolkit.fluxcd.io", "kind": "Kustomization"}
        path = "/spec/patches/-"
    selector = ",".join(f"{k}={v}" for k, v in FLEET_ROUTES_LABEL.items())
    return {"target": {**target, "labelSelector": selector},
            "patch": json.dumps([{"op": "add", "path": path, "value": drop}],
                                separators=(",", ":"))}


def release_edit(plan: Plan) -> str:
    """The yq expression a promotion applies to a release file; it reads SERVICE, IMAGE,
    DIGEST and REVISION from the environment."""
    if plan.choice("gitops") == "argocd":
        # Only the Application: a release file may hold platform-side objects too.
        return ('(select(.kind == "Application") | .spec.source.targetRevision)'
                ' = strenv(REVISION)'
                ' | (select(.kind == "Application") | .spec.source.kustomize.images)'
                ' = [strenv(SERVICE) + "=" + strenv(IMAGE) + "@" + strenv(DIGEST)]'
                ' | (select(.kind == "Application") | .spec.syncPolicy.automated)'
                ' = {"prune": true, "selfHeal": true}')
    return ('(select(.kind == "GitRepository") | .spec.ref) = {"commit": strenv(REVISION)}'
            ' | (select(.kind == "Kustomization") | .spec.images) = [{"name": strenv(SERVICE),'
            ' "newName": strenv(IMAGE), "digest": strenv(DIGEST)}]'
            ' | (select(.kind == "Kustomization") | .spec.suspend) = false')


def scm_secret_name(plan: Plan) -> str:
    # Argo CD finds repository credentials by label, Flux by name.
    return "scm-repo-creds" if plan.choice("gitops") == "argocd" else "scm-read"


def scm_external_secret(name: str, namespace: str, remote_key: str, *, store: str,
                        labels: Mapping[str, str] | None = None,
                        extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An ExternalSecret holding the read-only SCM token (never in Git): as Argo CD repository
    credentials for the owner's repositories, or as Flux basic auth."""
    template: dict[str, Any] = {"engineVersion": "v2", "mergePolicy": "Replace",
                                "data": {"username": "git", "password": "{{ .token }}",
                                         **(extra or {})}}
    if labels:
        template["metadata"] = {"labels": dict(labels)}
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": store},
            "target": {"name": name, "creationPolicy": "Owner", "template": template},
            "data": [{"secretKey": "token", "remoteRef": {"key": remote_key}}],
        },
    }
