"""Helm values against the chart they are for: its `values.schema.json` where upstream ships
one, and every key path against the chart's default `values.yaml` (or the schema's properties),
so that a misspelt key fails instead of being silently ignored by the templates.

Values are found through what deploys them (Argo CD Applications, Flux HelmReleases), and the
chart's reference data through the catalogue's `upstream` entry for that chart. A default that is
an empty map is open-ended by design (labels, annotations, node selectors); the few keys charts
read without listing them are allowed by the short table below, each with its reason.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from kubeplan import catalogue
from kubeplan.check.manifests import ValuesRef, load_all, read_tree, values_refs
from kubeplan.errors import Finding

NAME = "values"
MAX_ERRORS = 10

# chart -> {key path: why anything below it is accepted}.
OPEN_ENDED: dict[str, dict[str, str]] = {
    "argo-cd": {
        "configs.cm": "argocd-cm takes any Argo CD setting (health checks, resource "
                      "customisations) as a key",
        "configs.params": "argocd-cmd-params-cm takes any component flag as a key",
        "configs.rbac": "argocd-rbac-cm takes policy files as keys",
    },
    "opentelemetry-collector": {
        f"config.{section}": "the Collector's own configuration: component ids are free-form "
                             "(`type/name`), each with its component's settings"
        for section in ("receivers", "processors", "exporters", "connectors", "extensions")},
    "tempo": {
        "tempo.storage.trace": "passed through to tempo.yaml's storage block; the object-store "
                               "backends (gcs, s3, azure) are documented as comments",
    },
    "base": {"profile": "Istio charts merge files/profile-<name>.yaml from `profile` "
                        "(templates/zzz_profile.yaml), which values.yaml does not list"},
    "istiod": {"profile": "Istio charts merge files/profile-<name>.yaml from `profile` "
                          "(templates/zzz_profile.yaml), which values.yaml does not list"},
    "harbor": {"persistence.imageChartStorage.s3": "the registry's S3 driver options "
                                                   "(regionendpoint, secure, v4auth, "
                                                   "existingSecret) are documented as comments "
                                                   "and passed through by the registry "
                                                   "ConfigMap template",
               "caBundleSecretName": "documented as a comment in values.yaml; "
                                     "templates/_helpers.tpl (harbor.caBundleVolume) mounts "
                                     "it into core, jobservice, registry, trivy and exporter"},
    "eck-operator": {"config.containerRepository": "documented as a comment in values.yaml "
                                                   "beside containerRegistry; the operator's "
                                                   "ConfigMap passes it as ECK's "
                                                   "container-repository setting"},
}
# Keys that hold a Kubernetes API structure the charts render verbatim (toYaml): the API
# server validates them when the chart is rendered, so they are not checked key by key.
VERBATIM = frozenset({"securityContext", "podSecurityContext", "containerSecurityContext",
                      "resources", "affinity"})
# Charts whose defaults sit under one key that users set at the top level (Istio's Helm
# workaround for defaults that must not be overridden by `--set` merges).
DEFAULTS_UNDER = {"base": "_internal_defaults_do_not_set", "istiod": "_internal_defaults_do_not_set"}
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
KNOWN_DRAFTS = frozenset({
    "http://json-schema.org/draft-04/schema#", "http://json-schema.org/draft-06/schema#",
    DRAFT_07, "https://json-schema.org/draft/2019-09/schema",
    "https://json-schema.org/draft/2020-12/schema",
})


def _entry(chart: str) -> tuple[str, dict[str, Any]] | None:
    for key, entry in (catalogue.load().get("charts") or {}).items():
        if entry.get("type") != "git" and str(entry.get("chart")) == chart:
            return key, entry
    return None


@lru_cache(maxsize=64)
def _yaml(path: Path) -> Any:
    docs = load_all(path.read_text("utf-8"))
    return docs[0] if docs else {}


@lru_cache(maxsize=32)
def _schema(path: Path) -> Any:
    schema = json.loads(path.read_text("utf-8"))
    if isinstance(schema, dict) and schema.get("$schema") not in KNOWN_DRAFTS:
        # Variants jsonschema-rs does not recognise (`https://...draft-07`, bare `schema#`).
        schema["$schema"] = DRAFT_07
    return jsonschema_rs.validator_for(schema), schema


def defaults_for(chart: str, values: Any) -> Any:
    if not isinstance(values, dict) or chart not in DEFAULTS_UNDER:
        return values
    key = DEFAULTS_UNDER[chart]
    merged = {k: v for k, v in values.items() if k != key}
    return _merge(merged, values.get(key) or {})


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for k, v in extra.items():
            out[k] = _merge(out[k], v) if k in out else v
        return out
    return extra


class _Schema:
    """A schema node with its document, so local `$ref`s (`#/$defs/...`) can be followed."""

    def __init__(self, node: Any, document: Any) -> None:
        self.document = document
        self.node = self._resolve(node)

    def _resolve(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 32:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                return None
            target: Any = self.document
            for part in ref[2:].split("/"):
                target = target.get(part) if isinstance(target, dict) else None
            node, seen = target, seen + 1
        return node

    def child(self, key: str) -> tuple[bool, _Schema | None]:
        """(whether the schema declares `key`, its sub-schema)."""
        node = self.node
        if not isinstance(node, dict):
            return False, None
        candidates = [node, *[self._resolve(n) for n in node.get("allOf") or []]]
        for candidate in candidates:
            if not isinstance(candidate, dict):
                continue
            props = candidate.get("properties") or {}
            if key in props:
                return True, _Schema(props[key], self.document)
            for pattern, sub in (candidate.get("patternProperties") or {}).items():
                if re.search(pattern, key):
                    return True, _Schema(sub, self.document)
            # A typed map, or an explicit `additionalProperties: true` (upstream's own
            # declaration that the block is free-form, e.g. Loki's limits_config), declares its
            # keys; a schema that is merely silent does not.
            extra = candidate.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return True, _Schema(extra, self.document)
            if extra is True and candidate is not self.document:
                return True, None  # at the root it would excuse every misspelt top-level key
        return False, None

    def has_properties(self) -> bool:
        return isinstance(self.node, dict) and bool(self.node.get("properties"))


def unknown_keys(values: Any, defaults: Any, schema: _Schema | None, open_ended: dict[str, str],
                 *, subcharts: dict[str, Any], upstream: Path, path: str = "") -> list[str]:
    """Key paths in `values` that neither the defaults nor the schema know."""
    if not isinstance(values, dict):
        return []
    out: list[str] = []
    for key, value in values.items():
        here = f"{path}.{key}" if path else str(key)
        if here in open_ended or key in VERBATIM:
            continue
        if not path and key in subcharts:
            sub = subcharts[key]
            if sub is None:
                continue  # the subchart's own values are not in the upstream data
            sub_defaults = _merge(_yaml(upstream / str(sub)), (defaults or {}).get(key) or {})
            out += unknown_keys(value, sub_defaults, None, {}, subcharts={}, upstream=upstream,
                                path=here)
            continue
        known_default = isinstance(defaults, dict) and key in defaults
        in_schema, sub_schema = schema.child(str(key)) if schema else (False, None)
        if not known_default and not in_schema:
            if isinstance(defaults, dict) and not defaults and path:
                continue  # an empty map by default: free-form (labels, selectors, ...)
            out.append(here)
            continue
        default = defaults.get(key) if known_default else None
        if isinstance(value, dict) and (isinstance(default, dict) or default is None):
            if default is None and not in_schema:
                continue  # null by default: the chart takes whatever object it is given
            if isinstance(default, dict) and not default and not (
                    sub_schema and sub_schema.has_properties()):
                continue
            out += unknown_keys(value, default or {}, sub_schema, open_ended, subcharts={},
                                upstream=upstream, path=here)
    return out


def check_ref(ref: ValuesRef, root: Path, upstream: Path) -> list[Finding]:
    found = _entry(ref.chart)
    if found is None:
        return [Finding(ref.file, f"chart {ref.chart!r} is not in kubeplan's catalogue, so "
                                  "there is no upstream reference to check its values", NAME)]
    key, entry = found
    if str(entry.get("version")) != ref.version:
        return [Finding(ref.file, f"chart {ref.chart} {ref.version} is not the pinned version "
                                  f"{entry.get('version')}: its values cannot be checked", NAME)]
    if ref.data is None:
        path = root / ref.file
        if not path.is_file():
            return [Finding(ref.file, f"values file for {ref.chart} is missing", NAME)]
        docs = load_all(path.read_text("utf-8"))  # the tree's file: never cached
        data = docs[0] if docs else {}
    else:
        data = ref.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return [Finding(ref.file, f"{ref.chart} values must be a mapping", NAME)]
    up = entry.get("upstream") or {}
    findings: list[Finding] = []
    schema_doc: _Schema | None = None
    raw_defaults = _yaml(upstream / str(up["values"])) if up.get("values") else {}
    if up.get("schema"):
        compiled, document = _schema(upstream / str(up["schema"]))
        schema_doc = _Schema(document, document)
        # Helm validates the merged values (chart defaults overlaid with these), not the file.
        for error in compiled.iter_errors(_merge(raw_defaults or {}, data)):
            where = ".".join(str(p) for p in error.instance_path) or "(root)"
            findings.append(Finding(ref.file, f"{ref.chart}: {where}: {error.message} "
                                              "(values.schema.json)", NAME))
            if len(findings) >= MAX_ERRORS:
                break
    if up.get("values"):
        defaults = defaults_for(ref.chart, _yaml(upstream / str(up["values"])))
        for key_path in unknown_keys(data, defaults, schema_doc, OPEN_ENDED.get(ref.chart, {}),
                                     subcharts=dict(up.get("subcharts") or {}),
                                     upstream=upstream):
            findings.append(Finding(ref.file, f"{ref.chart}: {key_path}: unknown key (not in "
                                              "the chart's values.yaml nor its schema)", NAME))
    elif data and not up.get("unverified"):
        # Charts the catalogue marks `unverified` (with its reason) are the known gaps.
        findings.append(Finding(ref.file, f"chart {key}: no upstream values.yaml to check "
                                          "these values against", NAME))
    return findings


def validate(tree_root: Path, upstream_root: Path) -> list[Finding]:
    tree = read_tree(tree_root)
    upstream = upstream_root.resolve()
    findings: list[Finding] = []
    for ref in values_refs(tree):
        try:
            findings.extend(check_ref(ref, tree.root, upstream))
        except (OSError, yaml.YAMLError, ValueError) as error:
            findings.append(Finding(ref.file, f"{ref.chart}: {error}", NAME))
    return findings
