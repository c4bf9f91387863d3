"""Small builders for Kubernetes objects and the tree's paths and file names.

Everything here returns plain data (dicts) that the serialisers turn into YAML; nothing is
templated as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kubeplan.model import Cluster

GITOPS_ROOT = "gitops"
# Labels on everything kubeplan authors, so `kubectl get -l` finds it and Argo CD/Flux can prune.
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubeplan"}
# The tier label splits namespaces into the platform's trust zone and the applications'.
TIER_LABEL = "kubeplan.dev/tier"
TIER_PLATFORM = "platform"
TIER_APPS = "apps"
NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace


def cluster_dir(cluster: Cluster) -> str:
    return f"{GITOPS_ROOT}/clusters/{cluster.name}"


def addon_dir(cluster: Cluster, addon: str) -> str:
    return f"{cluster_dir(cluster)}/{addon}"


def meta(name: str, namespace: str | None = None, *, labels: Mapping[str, str] | None = None,
         annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if namespace is not None:
        out["namespace"] = namespace
    if labels:
        out["labels"] = dict(labels)
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def obj(api_version: str, kind: str, name: str, namespace: str | None = None, *,
        labels: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None,
        **body: Any) -> dict[str, Any]:
    """A Kubernetes object: apiVersion, kind, metadata, then the body keys in the order given."""
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind,
                           "metadata": meta(name, namespace, labels=labels,
                                            annotations=annotations)}
    out.update(body)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-")


def object_file(document: Mapping[str, Any]) -> str:
    """`<namespace>/<kind>-<name>.yaml`, or `cluster-scoped/<kind>-<name>.yaml`."""
    metadata = document.get("metadata") or {}
    namespace = metadata.get("namespace")
    folder = _slug(str(namespace)) if namespace else "cluster-scoped"
    return f"{folder}/{_slug(str(document['kind']))}-{_slug(str(metadata.get('name', '')))}.yaml"


def kustomization(resources: list[str], **extra: Any) -> dict[str, Any]:
    """A kustomize `kustomization.yaml` (the file Flux and Argo CD both build from)."""
    out: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                           "kind": "Kustomization", "resources": sorted(resources)}
    out.update(extra)
    return out
