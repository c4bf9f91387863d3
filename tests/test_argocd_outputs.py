"""Argo CD fills in the platform outputs (`${GCP_PROJECT_ID}`, `${REGISTRY_URL}`, ...) through
the root ApplicationSet over the cluster Secret: simulated here end to end (Go template with the
Secret's annotations -> kustomize patches on the child Applications -> Helm values merge and
kustomize patches on the objects), the result must equal the files with the variables replaced,
and nothing may be left unfilled."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan.render.gitops import argocd, outputs

from .gitops_support import example_plan, write

ACTION = re.compile(r"\{\{(`[^`]*`|[^`}]*)\}\}")
LITERAL = re.compile(r"^`([^`]*)`$")
ANNOTATION = re.compile(r"^\.metadata\.annotations\.([A-Za-z_][A-Za-z0-9_]*)$")


def _value(name: str) -> str:
    return f"value-of-{name.lower()}"


def _render(text: str, annotations: dict[str, str]) -> str:
    """The subset of Go templates kubeplan writes; anything else fails the test."""
    def action(match: re.Match[str]) -> str:
        body = match.group(1)
        if literal := LITERAL.match(body):
            return literal.group(1)
        if found := ANNOTATION.match(body):
            return annotations[found.group(1)]  # KeyError == missingkey=error
        raise AssertionError(f"unexpected template action {match.group(0)!r}")
    return ACTION.sub(action, text)


def _render_all(data: Any, annotations: dict[str, str]) -> Any:
    if isinstance(data, str):
        return _render(data, annotations)
    if isinstance(data, dict):
        return {k: _render_all(v, annotations) for k, v in data.items()}
    if isinstance(data, list):
        return [_render_all(v, annotations) for v in data]
    return data


def _apply(document: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON patch `add` and `replace` (all kubeplan writes)."""
    out = copy.deepcopy(document)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent: Any = out
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if isinstance(parent, list):
            assert op["op"] == "replace"
            assert int(last) < len(parent)
            parent[int(last)] = op["value"]
        else:
            if op["op"] == "replace":
                assert last in parent, f"replace of missing {op['path']}"
            parent[last] = op["value"]
    return out


def _merge(base: Any, override: Any) -> Any:
    """Helm's values merge: maps deep-merged, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value)
        return out
    return override


def _substituted(data: Any, annotations: dict[str, str]) -> Any:
    text = json.dumps(data)
    return json.loads(outputs.VARIABLE.sub(
        lambda m: annotations.get(m.group(1), m.group(0)), text))


def _matches(target: dict[str, str], document: dict[str, Any]) -> bool:
    group, _, version = document["apiVersion"].rpartition("/")
    meta = document["metadata"]
    return (target["kind"] == document["kind"] and target["name"] == meta["name"]
            and target.get("group", "") == group and target["version"] == version
            and target.get("namespace") == meta.get("namespace"))


def _yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module", params=["shop", "regulated-payments", "aws-saas", "media-site"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp(request.param)
    write(example_plan(request.param), out)
    return request.param, out


def test_every_platform_output_is_filled_in(built: tuple[str, Path]) -> None:
    name, out = built
    annotations = {k: _value(k) for k in outputs.known()}
    substituting = 0
    for cluster in sorted((out / "gitops" / "clusters").iterdir()):
        apps = cluster / "applications"
        root = _yaml_docs(apps / "root.yaml")[0]
        children = {p.stem: _yaml_docs(p)[0] for p in apps.glob("*.yaml")
                    if p.stem not in ("root", "project", "kustomization")}
        kustomization = _yaml_docs(apps / "kustomization.yaml")[0]
        # Everything the root applies is listed for kustomize (the root included: it manages
        # itself).
        assert set(kustomization["resources"]) == {
            p.name for p in apps.glob("*.yaml") if p.name != "kustomization.yaml"}
        patches: dict[str, list[dict[str, Any]]] = {}
        if root["kind"] == "ApplicationSet":
            substituting += 1
            spec = root["spec"]
            assert spec["goTemplate"] is True
            assert spec["goTemplateOptions"] == ["missingkey=error"]
            selector = spec["generators"][0]["clusters"]["selector"]["matchLabels"]
            assert selector == {argocd.CLUSTER_LABEL: cluster.name}
            app = _render_all(spec["template"], annotations)
            assert app["metadata"]["name"] == argocd.ROOT
            for patch in app["spec"]["source"]["kustomize"]["patches"]:
                assert patch["target"]["kind"] == "Application"
                patches[patch["target"]["name"]] = json.loads(patch["patch"])
            # A missing annotation fails the ApplicationSet instead of deploying "".
            missing = dict(annotations)
            used = {m for p in spec["template"]["spec"]["source"]["kustomize"]["patches"]
                    for m in re.findall(
                r"\.metadata\.annotations\.([A-Z_0-9]+)", json.dumps(p))}
            assert used <= set(outputs.known())
            missing.pop(sorted(used)[0])
            with pytest.raises(KeyError):
                _render_all(spec["template"], missing)
        else:
            assert root["kind"] == "Application"
        for unit, child in sorted(children.items()):
            patched = _apply(child, patches.get(unit, []))
            unit_dir = cluster / unit
            values_path = unit_dir / "values.yaml"
            if values_path.exists():
                values = yaml.safe_load(values_path.read_text())
                override = (patched["spec"].get("sources") or [{}])[0].get("helm", {}).get(
                    "valuesObject", {})
                merged = _merge(values, override)
                assert merged == _substituted(values, annotations), unit
                assert not outputs.used(merged)[0], f"{cluster.name}/{unit}: values"
            # Objects are a unit of their own (`<addon>-config`, a phase later than the chart)
            # whose source is the add-on's manifests folder.
            path = (patched["spec"].get("source") or {}).get("path")
            manifests = out / path if path else unit_dir / "manifests"
            if path and manifests.is_dir():
                object_patches = (patched["spec"].get("source", {}).get("kustomize", {})
                                  .get("patches", []))
                for path in sorted(manifests.rglob("*.yaml")):
                    if path.name == "kustomization.yaml":
                        continue
                    for document in _yaml_docs(path):
                        result = document
                        for patch in object_patches:
                            if _matches(patch["target"], document):
                                result = _apply(result, json.loads(patch["patch"]))
                        assert result == _substituted(document, annotations), path
                        assert not outputs.used(result)[0], path
    # GCP and previews need outputs; AWS add-ons use Pod Identity and need none but the
    # preview registry.
    assert substituting >= 1, name


def test_bootstrap_annotates_the_cluster_secret(built: tuple[str, Path]) -> None:
    _, out = built
    for cluster in sorted((out / "gitops" / "clusters").iterdir()):
        root = _yaml_docs(cluster / "applications" / "root.yaml")[0]
        readme = (cluster / "README.md").read_text()
        if root["kind"] == "ApplicationSet":
            assert f"{argocd.CLUSTER_LABEL}={cluster.name}" in readme
            assert "annotate secret in-cluster" in readme
            assert "argocd.argoproj.io/secret-type=cluster" in readme
        else:
            assert "annotate secret" not in readme


def test_go_template_keeps_nested_templates_literal() -> None:
    text = "x=${REGISTRY_URL}/svc:pr-{{.number}} ${datasource}"
    rendered = _render(argocd.go_template(text), {"REGISTRY_URL": "r.example/p"})
    assert rendered == "x=r.example/p/svc:pr-{{.number}} ${datasource}"
