"""The secret-store entries the GitOps tree reads are the ones the store's access grants allow:
on AWS, the External Secrets role's Secrets Manager resource pattern covers every remote key
its environment's ExternalSecrets name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatch
from typing import Any

import yaml

from kubeplan import app
from kubeplan.render import OutputTree

from .gitops_support import example_plan

ARN = re.compile(r'"arn:aws:secretsmanager:\*:\$\{var\.aws_account_id\}:secret:([^"]+)"')


def _platform_store_entries(files: dict[str, bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file, data entry) of every ExternalSecret entry read from the platform's store (not
    from another store, such as a namespaced reader)."""
    for path, data in files.items():
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(data):
            if isinstance(doc, dict) and doc.get("kind") == "ExternalSecret":
                for entry in doc["spec"].get("data") or []:
                    if not entry.get("sourceRef"):
                        yield path, entry


def test_aws_external_secrets_role_reads_the_entries_the_tree_names() -> None:
    plan = example_plan("aws-saas")
    tree = OutputTree()
    for renderer in app.TARGET_RENDERERS[:3]:  # gitops, delivery, terraform
        renderer(plan, tree)
    files = dict(tree)
    checked = 0
    for environment in plan.metadata.environments:
        patterns = {m for path, data in files.items()
                    if path.startswith(f"terraform/{environment}/") and path.endswith(".tf")
                    for m in ARN.findall(data.decode())}
        assert patterns, environment
        clusters = [c.name for c in plan.topology.clusters_in(environment)]
        for path, entry in _platform_store_entries(files):
            if any(path.startswith(f"gitops/clusters/{c}/") for c in clusters):
                key = entry["remoteRef"]["key"]
                assert any(fnmatch(key, p) for p in patterns), (path, key, patterns)
                checked += 1
    assert checked


def test_vault_references_name_the_value_key() -> None:
    """Vault KV entries are maps: without a property External Secrets would hand the whole map
    over as JSON."""
    from kubeplan.render.gitops import telemetry

    plan = example_plan("factory-onprem")
    tree = OutputTree()
    app.TARGET_RENDERERS[0](plan, tree)
    seen = 0
    for path, entry in _platform_store_entries(dict(tree)):
        # Single-value entries keep it under `value`; multi-key ones (a robot's username and
        # password) name their key.
        assert entry["remoteRef"].get("property"), path
        seen += entry["remoteRef"]["property"] == telemetry.VAULT_PROPERTY
    assert seen
