"""Core Kubernetes objects against the API's JSON schemas for the plan's Kubernetes version.

The schemas are kubernetes-validate's package data in their strict form (no unknown fields:
what `kubectl apply --validate=strict` refuses), read directly and compiled with jsonschema-rs.
Objects of other API groups are the custom-resource validator's (`crds.py`).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs

from kubeplan.check.manifests import Document, gvk, name_of, read_tree
from kubeplan.errors import Finding

NAME = "kubernetes"
DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = f"{DEFINITIONS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
MAX_ERRORS = 5
# Core kinds that have no namespace (the schemas do not say which kinds are namespaced).
CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
    "PriorityClass", "StorageClass", "CSIDriver", "CSINode", "VolumeAttachment",
    "VolumeAttributesClass", "CustomResourceDefinition", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "RuntimeClass",
    "IngressClass", "CertificateSigningRequest", "ClusterTrustBundle", "FlowSchema",
    "PriorityLevelConfiguration", "ComponentStatus", "IPAddress", "ServiceCIDR",
    "DeviceClass", "ResourceSlice", "StorageVersionMigration",
})


def _schema_root() -> Any:
    return resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")


def supported_versions() -> list[str]:
    out = []
    for entry in _schema_root().iterdir():
        match = re.fullmatch(r"v(\d+\.\d+)\.\d+-local-strict", entry.name)
        if match:
            out.append(match.group(1))
    return sorted(out, key=lambda v: tuple(int(p) for p in v.split(".")))


def schema_version(tree_root: Path) -> str:
    """The plan's Kubernetes version (plan.json), else the newest the schemas cover."""
    versions = supported_versions()
    plan = tree_root / "plan.json"
    if plan.is_file():
        try:
            wanted = str(json.loads(plan.read_text("utf-8"))["metadata"]["kubernetesVersion"])
        except (ValueError, KeyError, TypeError):
            wanted = versions[-1]
        fitting = [v for v in versions if tuple(map(int, v.split("."))) <=
                   tuple(map(int, wanted.split(".")[:2]))]
        if fitting:
            return fitting[-1]
    return versions[-1]


def _folder(version: str) -> Any:
    return _schema_root().joinpath(f"v{version}.0-local-strict")


@lru_cache(maxsize=4)
def definitions(version: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_folder(version).joinpath("_definitions.json")
                                      .read_text("utf-8"))
    return data


@lru_cache(maxsize=4)
def registry(version: str) -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(DEFINITIONS_ID, definitions(version))])


def schema_file(api_version: str, kind: str) -> str:
    # kubernetes-validate's naming: `networking.k8s.io/v1` -> `networking-v1`.
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{api}.json"


def is_core_group(group: str) -> bool:
    return group == "" or "." not in group or group.endswith(".k8s.io")


@lru_cache(maxsize=512)
def validator(version: str, api_version: str, kind: str) -> Any | None:
    entry = _folder(version).joinpath(schema_file(api_version, kind))
    if not entry.is_file():
        return None
    schema = json.loads(entry.read_text("utf-8"))
    return jsonschema_rs.validator_for(schema, registry=registry(version))


def errors(compiled: Any, data: Any) -> list[str]:
    out = []
    for error in compiled.iter_errors(data):
        path = ".".join(str(p) for p in error.instance_path) or "(root)"
        out.append(f"{path}: {error.message}")
        if len(out) >= MAX_ERRORS:
            break
    return out


def check_object(doc: Document, version: str) -> list[Finding] | None:
    """Findings for a core object, or None when it is not a core kind (a custom resource)."""
    data = doc.data
    group, _, kind = gvk(data)
    if not is_core_group(group):
        return None
    compiled = validator(version, str(data["apiVersion"]), kind)
    if compiled is None:
        return None
    found = [Finding(doc.where, f"{name_of(data)}: {message}", NAME)
             for message in errors(compiled, data)]
    namespaced = kind not in CLUSTER_SCOPED
    has_ns = bool((data.get("metadata") or {}).get("namespace"))
    if namespaced and not has_ns:
        found.append(Finding(doc.where, f"{name_of(data)}: a namespaced kind needs "
                                        "metadata.namespace (GitOps tools would otherwise "
                                        "apply it wherever they default to)", NAME))
    if not namespaced and has_ns:
        found.append(Finding(doc.where, f"{name_of(data)}: {kind} is cluster-scoped but has "
                                        "metadata.namespace", NAME))
    return found


def validate(tree_root: Path, upstream_root: Path) -> list[Finding]:
    tree = read_tree(tree_root)
    version = schema_version(tree_root)
    findings = list(tree.errors)
    for doc in tree.objects():
        result = check_object(doc, version)
        if result:
            findings.extend(result)
    return findings
