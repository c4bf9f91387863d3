"""No secret values anywhere: a Secret object with `data` or `stringData` in the tree is a
finding. Secrets come from External Secrets (or the CI's secret store), never from Git."""

from __future__ import annotations

from pathlib import Path

from kubeplan.check.manifests import read_tree
from kubeplan.errors import Finding

NAME = "no-secrets"


def validate(tree_root: Path, upstream_root: Path) -> list[Finding]:
    findings: list[Finding] = []
    for doc in read_tree(tree_root).documents:
        data = doc.data
        if not isinstance(data, dict) or data.get("kind") != "Secret":
            continue
        if str(data.get("apiVersion", "")) != "v1":
            continue
        filled = [k for k in ("data", "stringData") if data.get(k)]
        if filled:
            name = (data.get("metadata") or {}).get("name", "?")
            findings.append(Finding(doc.where, f"Secret {name} carries {' and '.join(filled)}: "
                                               "reference the value through an ExternalSecret "
                                               "instead", NAME))
    return findings
