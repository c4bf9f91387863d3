"""Custom resources against the upstream CRDs' openAPIV3Schema for their group, version, kind.

The CRD schemas are made strict the way the API server's field validation is: an object schema
that lists its properties rejects others unless it says `x-kubernetes-preserve-unknown-fields`;
`nullable` and `x-kubernetes-int-or-string` become JSON Schema types. `metadata` is checked
against the Kubernetes ObjectMeta schema. CEL rules (`x-kubernetes-validations`) are not
evaluated. Where several upstream files define one kind (Argo CD v3.4.4 and v3.5.1), the files
the catalogue names for its charts come first. Kinds a provider installs with no published
CRD (PROVIDER_MANAGED) are held to metadata only.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from kubeplan import catalogue
from kubeplan.check import kubernetes
from kubeplan.check.manifests import Document, gvk, load_all, name_of, read_tree
from kubeplan.errors import Finding

NAME = "crds"
_GROUP = re.compile(r"^  group: *[\"']?([^\s\"']+)", re.M)
_KIND = re.compile(r"^    kind: *[\"']?([^\s\"']+)", re.M)
_SEPARATOR = re.compile(r"^---\s*$", re.M)
# Component configuration that kubeadm, the kubelet and the API server read from files: not API
# objects, so neither the Kubernetes schemas nor a CRD describes them (and the upstream data has
# no schema for them). They are left to the component, which refuses a bad file when it reads it
# (`kubeadm config validate --config kubeadm.yaml` checks all three kubeadm documents).
COMPONENT_CONFIG = frozenset({
    ("kubeadm.k8s.io", "InitConfiguration"), ("kubeadm.k8s.io", "ClusterConfiguration"),
    ("kubeadm.k8s.io", "JoinConfiguration"), ("kubelet.config.k8s.io", "KubeletConfiguration"),
    ("audit.k8s.io", "Policy"), ("apiserver.config.k8s.io", "EncryptionConfiguration"),
})
# Kinds a provider installs in its clusters itself, with no CRD published anywhere the upstream
# data could come from: (group, kind) -> (served version, why and where it is documented).
# Nothing is known of their fields beyond the object's metadata, so an object of one of these
# kinds may carry apiVersion, kind and metadata only (metadata checked against ObjectMeta, the
# namespace required); any other field is a finding rather than an unchecked pass.
PROVIDER_MANAGED: dict[tuple[str, str], tuple[str, str]] = {
    ("net.gke.io", "ServiceExport"): (
        "v1", "GKE multi-cluster Services: installed by the fleet feature "
              "multiclusterservicediscovery, documented (metadata only, no spec) at "
              "https://cloud.google.com/kubernetes-engine/docs/how-to/multi-cluster-services; "
              "no CRD is published"),
}


def _preferred(upstream: Path) -> list[Path]:
    out: list[Path] = []
    for entry in (catalogue.load().get("charts") or {}).values():
        for item in (entry.get("upstream") or {}).get("crds") or []:
            path = upstream / str(item)
            files = sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
            out.extend(f for f in files if f.is_file() and f not in out)
    return out


@lru_cache(maxsize=2)
def index(upstream: Path) -> dict[tuple[str, str], list[Path]]:
    """(group, kind) -> CRD files, preferred first, from a cheap scan (no YAML parse)."""
    folder = upstream / "crds"
    files = _preferred(upstream)
    files += [f for f in sorted(folder.rglob("*.yaml")) if f not in files]
    out: dict[tuple[str, str], list[Path]] = {}
    for path in files:
        text = path.read_text("utf-8")
        for doc in _SEPARATOR.split(text):
            if "kind: CustomResourceDefinition" not in doc:
                continue
            group, kind = _GROUP.search(doc), _KIND.search(doc)
            if group and kind:
                out.setdefault((group.group(1), kind.group(1)), []).append(path)
    return out


@lru_cache(maxsize=64)
def _crds(path: Path) -> list[dict[str, Any]]:
    return [d for d in load_all(path.read_text("utf-8"))
            if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]


def strict(schema: Any, embedded: bool = False) -> Any:
    """An openAPIV3Schema as a strict JSON Schema (see the module docstring)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            out[key] = {k: strict(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict(v) for v in value]
        elif key.startswith("x-kubernetes-") or key in ("nullable", "format"):
            continue
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else \
            [*out["type"], "null"]
    embedded = embedded or bool(schema.get("x-kubernetes-embedded-resource"))
    if embedded:
        props = out.setdefault("properties", {})
        for key in ("apiVersion", "kind"):
            props.setdefault(key, {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if (out.get("type") == "object" and "properties" in out and "additionalProperties" not in out
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=512)
def _validator(path: Path, group: str, version: str, kind: str, k8s: str
               ) -> tuple[Any, str] | str:
    """(compiled schema, scope) or an explanation of why there is none."""
    for crd in _crds(path):
        spec = crd.get("spec") or {}
        if spec.get("group") != group or (spec.get("names") or {}).get("kind") != kind:
            continue
        served = [v for v in spec.get("versions") or [] if v.get("served", True)]
        for entry in served:
            if entry.get("name") != version:
                continue
            raw = ((entry.get("schema") or {}).get("openAPIV3Schema")) or {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}
            schema = strict(raw)
            props = schema.setdefault("properties", {})
            props["apiVersion"] = {"type": "string"}
            props["kind"] = {"type": "string"}
            props["metadata"] = {"$ref": kubernetes.OBJECT_META}
            compiled = jsonschema_rs.validator_for(schema, registry=kubernetes.registry(k8s))
            return compiled, str(spec.get("scope", "Namespaced"))
        names = ", ".join(str(v.get("name")) for v in served)
        return f"{group}/{version} is not served by the CRD (served: {names})"
    return f"no CRD for {kind} in {path.name}"


def check_object(doc: Document, upstream: Path, k8s: str) -> list[Finding]:
    data = doc.data
    group, version, kind = gvk(data)
    files = index(upstream).get((group, kind))
    if not files:
        return [Finding(doc.where, f"{name_of(data)}: no schema for {data['apiVersion']} "
                                   f"{kind} (not a Kubernetes kind, and no upstream CRD "
                                   "defines it)", NAME)]
    reason = ""
    for path in files:
        result = _validator(path, group, version, kind, k8s)
        if isinstance(result, str):
            reason = result
            continue
        compiled, scope = result
        found = [Finding(doc.where, f"{name_of(data)}: {message}", NAME)
                 for message in kubernetes.errors(compiled, data)]
        has_ns = bool((data.get("metadata") or {}).get("namespace"))
        if scope == "Namespaced" and not has_ns:
            found.append(Finding(doc.where, f"{name_of(data)}: {kind} is namespaced; set "
                                            "metadata.namespace", NAME))
        if scope == "Cluster" and has_ns:
            found.append(Finding(doc.where, f"{name_of(data)}: {kind} is cluster-scoped but "
                                            "has metadata.namespace", NAME))
        return found
    return [Finding(doc.where, f"{name_of(data)}: {reason}", NAME)]


@lru_cache(maxsize=8)
def _metadata_only(k8s: str) -> Any:
    schema = {"type": "object", "required": ["apiVersion", "kind", "metadata"],
              "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                             "metadata": {"$ref": kubernetes.OBJECT_META}},
              "additionalProperties": False}
    return jsonschema_rs.validator_for(schema, registry=kubernetes.registry(k8s))


def check_provider_managed(doc: Document, k8s: str) -> list[Finding]:
    """An object of a PROVIDER_MANAGED kind: its served version, metadata only, namespaced."""
    data = doc.data
    group, version, kind = gvk(data)
    served, _ = PROVIDER_MANAGED[(group, kind)]
    found: list[Finding] = []
    if version != served:
        found.append(Finding(doc.where, f"{name_of(data)}: {group}/{version} {kind} is not "
                                        f"served (served: {served})", NAME))
    found += [Finding(doc.where, f"{name_of(data)}: {message}", NAME)
              for message in kubernetes.errors(_metadata_only(k8s), data)]
    if not (data.get("metadata") or {}).get("namespace"):
        found.append(Finding(doc.where, f"{name_of(data)}: {kind} is namespaced; set "
                                        "metadata.namespace", NAME))
    return found


def validate(tree_root: Path, upstream_root: Path) -> list[Finding]:
    tree = read_tree(tree_root)
    k8s = kubernetes.schema_version(tree_root)
    upstream = upstream_root.resolve()
    findings: list[Finding] = []
    for doc in tree.objects():
        if kubernetes.check_object(doc, k8s) is not None:
            continue
        group, _, kind = gvk(doc.data)
        if (group, kind) in COMPONENT_CONFIG:
            continue
        if (group, kind) in PROVIDER_MANAGED:
            findings.extend(check_provider_managed(doc, k8s))
            continue
        findings.extend(check_object(doc, upstream, k8s))
    return findings
