"""Prometheus and Alertmanager validators, run with the upstream tools themselves.

- every PrometheusRule's spec passes `promtool check rules`;
- a PrometheusRule carrying unit tests in its `kubeplan.dev/promtool-tests` annotation passes
  `promtool test rules` (the tests are written at build time from the plan's intent, so a hand
  edit that changes what the alerts do fails here);
- every Alertmanager configuration (found in chart values: a mapping with `route` and
  `receivers`) passes `amtool check-config`, and every receiver is reachable: for each receiver
  a label set is derived from the matchers on its route and `amtool config routes test` must
  return it. AlertmanagerConfig objects next to the configuration are merged in first, the way
  the Prometheus Operator does with the `None` matcher strategy (their routes first, with
  `continue: true`, receivers named namespace/config/receiver).

The tools come from the system (Debian: prometheus, prometheus-alertmanager); when one is
missing the validator says so as a finding instead of failing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from kubeplan.errors import Finding

NAME = "prometheus"
TESTS_ANNOTATION = "kubeplan.dev/promtool-tests"
TIMEOUT = 120
_PLAIN = re.compile(r"^[A-Za-z0-9_.:/ -]*$")
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Only files naming one of these are parsed: a built tree holds hundreds of other manifests.
_MARKERS = ("PrometheusRule", "AlertmanagerConfig", "receivers")


class _Loader(_BASE):  # type: ignore[misc,valid-type]
    """Safe loading that tolerates the `=` value tag some upstream files carry."""


_Loader.add_constructor("tag:yaml.org,2002:value",
                        lambda loader, node: loader.construct_scalar(node))


def _documents(root: Path) -> list[tuple[Path, Any]]:
    out: list[tuple[Path, Any]] = []
    for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        try:
            text = path.read_text("utf-8")
            if not any(marker in text for marker in _MARKERS):
                continue
            docs = list(yaml.load_all(text, Loader=_Loader))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue  # unparsable files are the schema validators' findings
        out += [(path, doc) for doc in docs if doc is not None]
    return out


def _group(root: Path, path: Path) -> str:
    """The cluster a file belongs to (`.../clusters/<name>/...`), else its top folder."""
    parts = path.relative_to(root).parts
    if "clusters" in parts[:-1]:
        index = parts.index("clusters")
        return "/".join(parts[: index + 2])
    return parts[0] if len(parts) > 1 else ""


def _alertmanager_configs(data: Any) -> Iterator[dict[str, Any]]:
    """Mappings shaped like alertmanager.yaml anywhere in a document (chart values, inline
    Helm values of an Argo CD Application or a Flux HelmRelease)."""
    if isinstance(data, dict):
        route = data.get("route")
        if (isinstance(route, dict) and isinstance(data.get("receivers"), list)
                and "receiver" in route and data.get("kind") != "AlertmanagerConfig"):
            yield data
            return
        for value in data.values():
            yield from _alertmanager_configs(value)
    elif isinstance(data, list):
        for item in data:
            yield from _alertmanager_configs(item)


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)


def _output(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stdout + result.stderr).strip()
    lines = [line for line in text.splitlines()
             if line.strip() and "--alertmanager.url" not in line]
    return "\n    ".join(lines[-15:])


# --- rules ----------------------------------------------------------------------------------

def _check_rules(root: Path, documents: list[tuple[Path, Any]], work: Path) -> list[Finding]:
    rules = [(path, doc) for path, doc in documents
             if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule"]
    if not rules:
        return []
    if not shutil.which("promtool"):
        return [_missing("promtool", "prometheus")]
    jobs: dict[str, tuple[Any, str | None]] = {}  # identical rules (one per cluster) run once
    keyed = []
    for path, doc in rules:
        meta = doc.get("metadata") or {}
        groups = (doc.get("spec") or {}).get("groups") or []
        tests = (meta.get("annotations") or {}).get(TESTS_ANNOTATION)
        key = json.dumps([groups, tests], sort_keys=True, default=str)
        jobs.setdefault(key, (groups, tests))
        keyed.append((str(path.relative_to(root)), meta.get("name", "?"), key))
    verdicts = _parallel({key: partial(_rule_problems, work, i, *job)
                          for i, (key, job) in enumerate(jobs.items())})
    return [Finding(rel, f"PrometheusRule {name}: {problem}", NAME)
            for rel, name, key in keyed for problem in verdicts[key]]


def _parallel(jobs: dict[str, Callable[[], list[str]]]) -> dict[str, list[str]]:
    """Run independent tool invocations side by side (each is a short-lived process)."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def _rule_problems(work: Path, index: int, groups: Any, tests: str | None) -> list[str]:
    rules_file = work / f"rules-{index}.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), "utf-8")
    result = _run(["promtool", "check", "rules", rules_file.name], work)
    if result.returncode != 0:
        return [f"promtool check rules failed:\n    {_output(result)}"]
    if not tests:
        return []
    try:
        cases = yaml.safe_load(tests)
    except yaml.YAMLError as error:
        return [f"{TESTS_ANNOTATION} is not YAML: {error}"]
    # The annotation holds a promtool test file without `rule_files` (or just its tests).
    document = dict(cases) if isinstance(cases, dict) else {"tests": cases}
    document = {"rule_files": [rules_file.name], "evaluation_interval": "1m", **document}
    test_file = work / f"rules-{index}.test.yaml"
    test_file.write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
    result = _run(["promtool", "test", "rules", test_file.name], work)
    if result.returncode != 0:
        return [f"promtool test rules failed:\n    {_output(result)}"]
    return []


# --- Alertmanager ------------------------------------------------------------------------------

def _operator_matchers(matchers: list[dict[str, Any]]) -> list[str]:
    out = []
    for m in matchers or []:
        op = m.get("matchType") or ("=~" if m.get("regex") else "=")
        value = str(m.get("value", "")).replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'{m["name"]}{op}"{value}"')
    return out


def _operator_route(route: dict[str, Any], prefix: str, top: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if route.get("receiver"):
        out["receiver"] = f"{prefix}/{route['receiver']}"
    matchers = _operator_matchers(route.get("matchers") or [])
    if matchers:
        out["matchers"] = matchers
    if top or route.get("continue"):
        out["continue"] = True  # the operator forces it on each config's top route
    children = [_operator_route(r, prefix, False) for r in route.get("routes") or []]
    if children:
        out["routes"] = children
    return out


def _merge(config: dict[str, Any], operator: list[dict[str, Any]]) -> dict[str, Any]:
    """The configuration the operator would load: AlertmanagerConfig routes first."""
    merged = dict(config)
    route = dict(merged["route"])
    extra_routes, extra_receivers = [], []
    for amc in operator:
        meta = amc.get("metadata") or {}
        spec = amc.get("spec") or {}
        prefix = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
        if spec.get("route"):
            extra_routes.append(_operator_route(spec["route"], prefix, True))
        extra_receivers += [{"name": f"{prefix}/{r['name']}"} for r in spec.get("receivers") or []]
    route["routes"] = extra_routes + list(route.get("routes") or [])
    merged["route"] = route
    merged["receivers"] = list(merged.get("receivers") or []) + extra_receivers
    return merged


def _labels(matchers: list[str], match: dict[str, Any], match_re: dict[str, Any]
            ) -> dict[str, str] | None:
    """A label set satisfying the matchers, or None when one cannot be read off them."""
    labels: dict[str, str] = {k: str(v) for k, v in (match or {}).items()}
    regexes = [(k, "=~", str(v)) for k, v in (match_re or {}).items()]
    for text in matchers or []:
        found = _MATCHER.match(text)
        if not found:
            return None
        regexes.append((found.group(1), found.group(2), found.group(3)))
    for name, op, value in regexes:
        if op == "=":
            labels[name] = value
        elif op == "=~":
            choice = value.split("|")[0]
            if not _PLAIN.match(choice):
                return None
            labels[name] = choice
        # != and !~: leaving the label out satisfies them for any non-empty value
    return labels


def _receiver_paths(route: dict[str, Any], inherited: dict[str, str]
                    ) -> Iterator[tuple[str, dict[str, str] | None]]:
    here = _labels(route.get("matchers") or [], route.get("match") or {},
                   route.get("match_re") or {})
    labels = None if here is None else {**inherited, **here}
    if route.get("receiver"):
        yield route["receiver"], labels
    for child in route.get("routes") or []:
        yield from _receiver_paths(child, labels or {})


def _check_alertmanager(root: Path, documents: list[tuple[Path, Any]],
                        work: Path) -> list[Finding]:
    configs: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    operator: dict[str, list[dict[str, Any]]] = {}
    for path, doc in documents:
        group = _group(root, path)
        if isinstance(doc, dict) and doc.get("kind") == "AlertmanagerConfig":
            operator.setdefault(group, []).append(doc)
            continue
        for config in _alertmanager_configs(doc):
            if not any(config == seen for _, seen in configs.get(group, [])):
                configs.setdefault(group, []).append((path, config))
    if not configs:
        return []
    if not shutil.which("amtool"):
        return [_missing("amtool", "prometheus-alertmanager")]
    jobs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # identical ones run once
    keyed = []
    for group, found in sorted(configs.items()):
        for path, config in found:
            merged = _merge(config, sorted(operator.get(group, []),
                                           key=lambda d: str(d.get("metadata"))))
            key = json.dumps([config, merged], sort_keys=True, default=str)
            jobs.setdefault(key, (config, merged))
            keyed.append((str(path.relative_to(root)), key))
    verdicts = _parallel({key: partial(_alertmanager_problems, work, i, *job)
                          for i, (key, job) in enumerate(jobs.items())})
    return [Finding(rel, problem, NAME) for rel, key in keyed for problem in verdicts[key]]


def _alertmanager_problems(work: Path, index: int, config: dict[str, Any],
                           merged: dict[str, Any]) -> list[str]:
    plain = work / f"alertmanager-{index}.yaml"
    plain.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    result = _run(["amtool", "check-config", plain.name], work)
    if result.returncode != 0:
        return [f"Alertmanager configuration: amtool check-config failed:\n    "
                f"{_output(result)}"]
    merged_file = work / f"alertmanager-{index}-merged.yaml"
    merged_file.write_text(yaml.safe_dump(merged, sort_keys=False), "utf-8")
    return _route_problems(merged, merged_file, work)


def _route_problems(merged: dict[str, Any], config_file: Path, work: Path) -> list[str]:
    problems: list[str] = []
    root_receiver = merged["route"].get("receiver")
    paths: dict[str, list[dict[str, str] | None]] = {}
    for receiver, labels in _receiver_paths(merged["route"], {}):
        paths.setdefault(receiver, []).append(labels)
    for receiver in [r.get("name") for r in merged.get("receivers") or []]:
        if receiver == root_receiver:
            continue  # the fallback catches whatever no route takes
        candidates = [labels for labels in paths.get(receiver, []) if labels is not None]
        if receiver not in paths:
            problems.append(f"receiver {receiver!r} has no route: no alert can reach it")
            continue
        if not candidates:
            problems.append(f"receiver {receiver!r}: no label set can be read off its "
                            "route's matchers to test it")
            continue
        labels = candidates[0]
        args = [f"{k}={v}" for k, v in sorted(labels.items())] or ["alertname=RouteTest"]
        result = _run(["amtool", "config", "routes", "test",
                       f"--config.file={config_file.name}", *args], work)
        reached = (result.stdout.strip().splitlines() or [""])[0].split(",")
        if result.returncode != 0 or receiver not in reached:
            problems.append(f"receiver {receiver!r} is not reached by {' '.join(args)} "
                            f"(amtool routes to {','.join(reached) or 'nothing'})")
    return problems


def _missing(tool: str, package: str) -> Finding:
    return Finding(".", f"{tool} is not installed, so this check did not run; install it "
                        f"(Debian/Ubuntu: apt-get install {package}) and run kubeplan check again",
                   NAME)


def validate(root: Path, upstream: Path) -> list[Finding]:
    """Rules with promtool, Alertmanager configuration and routes with amtool."""
    with tempfile.TemporaryDirectory(prefix="kubeplan-prometheus-") as tmp:
        work = Path(tmp)
        documents = _documents(root)
        return (_check_rules(root, documents, work)
                + _check_alertmanager(root, documents, work))


VALIDATORS = [(NAME, validate)]
