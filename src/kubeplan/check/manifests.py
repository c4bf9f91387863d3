"""Reading a built (or hand-edited) tree: every YAML document, which of them are Kubernetes
objects, and which files are Helm values (found through the objects that deploy them).

Shared by the validators; the parse happens once per tree state (cached on the files' sizes and
modification times), since `kubeplan check` runs several validators over the same files.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from kubeplan.errors import Finding

YAML_SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = frozenset({".git", ".kubeplan", "node_modules", ".terraform"})
# apiVersion groups of YAML that is configuration for a tool, not an object for the cluster.
NOT_OBJECTS = ("kustomize.config.k8s.io", "kubeplan.dev")


class Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that also reads YAML 1.1 `=` (value) scalars as plain strings: upstream CRDs
    (prometheus-operator's AlertmanagerConfig) list `- =` as an enum item."""


def _value(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


Loader.add_constructor("tag:yaml.org,2002:value", _value)


def load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=Loader))


@dataclass(frozen=True)
class Document:
    file: str      # POSIX path relative to the tree root
    index: int     # position in a multi-document file
    data: Any

    @property
    def where(self) -> str:
        return self.file if self.index == 0 else f"{self.file}#{self.index + 1}"


@dataclass(frozen=True)
class ValuesRef:
    """Helm values for one chart deployment: a file in the tree or inline data."""

    file: str                 # where the values are (or the deploying object's file)
    chart: str
    version: str
    repository: str
    data: Any = None          # inline values; None: read `file`


@dataclass
class Tree:
    root: Path
    documents: list[Document] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)

    def objects(self) -> Iterator[Document]:
        values = {ref.file for ref in values_refs(self) if ref.data is None}
        for doc in self.documents:
            if doc.file in values or not is_object(doc.data):
                continue
            yield doc


def is_object(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    api, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(api, str) or not isinstance(kind, str):
        return False
    group = api.split("/")[0] if "/" in api else ""
    return group not in NOT_OBJECTS


def _files(root: Path) -> list[Path]:
    out: list[Path] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS for part in rel.parts):
            continue
        if path.is_file() and path.suffix in YAML_SUFFIXES:
            out.append(path)
    return out


def _fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                 for p in _files(root))


@lru_cache(maxsize=4)
def _read(root: Path, fingerprint: tuple[tuple[str, int, int], ...]) -> Tree:
    tree = Tree(root)
    for rel, _, _ in fingerprint:
        try:
            docs = load_all((root / rel).read_text("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            tree.errors.append(Finding(rel, f"not valid YAML: {error}".replace("\n", " "),
                                       "yaml"))
            continue
        for index, data in enumerate(docs):
            if data is not None:
                tree.documents.append(Document(rel, index, data))
    return tree


def read_tree(root: Path) -> Tree:
    root = root.resolve()
    return _read(root, _fingerprint(root))


def gvk(data: dict[str, Any]) -> tuple[str, str, str]:
    api = str(data["apiVersion"])
    group, _, version = api.rpartition("/")
    return group, version, str(data["kind"])


def name_of(data: dict[str, Any]) -> str:
    meta = data.get("metadata") or {}
    namespace = meta.get("namespace")
    name = meta.get("name", "?")
    return f"{data.get('kind')}/{namespace}/{name}" if namespace else f"{data.get('kind')}/{name}"


# --- Helm values, found through what deploys them ------------------------------------------

def _argo_sources(spec: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(spec.get("sources"), list):
        return [s for s in spec["sources"] if isinstance(s, dict)]
    return [spec["source"]] if isinstance(spec.get("source"), dict) else []


def _argo_refs(doc: Document, root: Path) -> list[ValuesRef]:
    spec = doc.data.get("spec") or {}
    out: list[ValuesRef] = []
    for source in _argo_sources(spec):
        repo = str(source.get("repoURL", ""))
        if source.get("chart"):
            chart = str(source["chart"])
        elif repo.startswith("oci://") and source.get("helm") is not None:
            chart = repo.rstrip("/").rsplit("/", 1)[-1]
        else:
            continue
        version = str(source.get("targetRevision", ""))
        helm = source.get("helm") or {}
        for value_file in helm.get("valueFiles") or []:
            text = str(value_file)
            if text.startswith("$"):
                # `$<ref>/<path>`: a file of the Git source named <ref> (this repository).
                rel = text.split("/", 1)[1] if "/" in text else ""
                out.append(ValuesRef(posixpath.normpath(rel), chart, version, repo))
        if isinstance(helm.get("valuesObject"), dict):
            out.append(ValuesRef(doc.file, chart, version, repo, helm["valuesObject"]))
        if isinstance(helm.get("values"), str) and helm["values"].strip():
            out.append(ValuesRef(doc.file, chart, version, repo, yaml.safe_load(helm["values"])))
    return out


def _flux_refs(doc: Document, tree: Tree, oci: dict[tuple[str, str], dict[str, Any]]
               ) -> list[ValuesRef]:
    spec = doc.data.get("spec") or {}
    chart_spec = ((spec.get("chart") or {}).get("spec")) or {}
    if chart_spec.get("chart"):
        chart, version, repo = (str(chart_spec["chart"]), str(chart_spec.get("version", "")),
                                str((chart_spec.get("sourceRef") or {}).get("name", "")))
    elif isinstance(spec.get("chartRef"), dict):
        ref = spec["chartRef"]
        source = oci.get((str(ref.get("namespace", "")), str(ref.get("name", ""))))
        if source is None:
            return []
        url = str((source.get("spec") or {}).get("url", ""))
        chart = url.rstrip("/").rsplit("/", 1)[-1]
        version = str(((source.get("spec") or {}).get("ref") or {}).get("tag", ""))
        repo = url
    else:
        return []
    out: list[ValuesRef] = []
    if isinstance(spec.get("values"), dict):
        out.append(ValuesRef(doc.file, chart, version, repo, spec["values"]))
    folder = PurePosixPath(doc.file).parent
    generators = _generators(tree, folder.as_posix())
    for item in spec.get("valuesFrom") or []:
        if item.get("kind") != "ConfigMap":
            continue
        files = generators.get(str(item.get("name")), [])
        key = str(item.get("valuesKey", "values.yaml"))
        for entry in files:
            target, _, path = entry.partition("=")
            path = path or target
            if PurePosixPath(target).name == key or target == key:
                out.append(ValuesRef((folder / path).as_posix(), chart, version, repo))
    return out


def _generators(tree: Tree, folder: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for doc in tree.documents:
        if PurePosixPath(doc.file).parent.as_posix() != folder:
            continue
        if PurePosixPath(doc.file).name not in ("kustomization.yaml", "kustomization.yml"):
            continue
        if not isinstance(doc.data, dict):
            continue
        for generator in doc.data.get("configMapGenerator") or []:
            out[str(generator.get("name"))] = [str(f) for f in generator.get("files") or []]
    return out


def values_refs(tree: Tree) -> list[ValuesRef]:
    oci: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in tree.documents:
        data = doc.data
        if is_object(data) and data["kind"] == "OCIRepository":
            meta = data.get("metadata") or {}
            oci[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = data
    out: list[ValuesRef] = []
    for doc in tree.documents:
        data = doc.data
        if not is_object(data):
            continue
        if data["kind"] in ("Application",) and str(data["apiVersion"]).startswith("argoproj.io/"):
            out.extend(_argo_refs(doc, tree.root))
        elif data["kind"] == "HelmRelease" and str(data["apiVersion"]).startswith(
                "helm.toolkit.fluxcd.io/"):
            out.extend(_flux_refs(doc, tree, oci))
    return out
