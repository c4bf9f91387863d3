"""Validation of the Terraform and on-prem parts of a tree.

- every `.tf` file parses (python-hcl2);
- every module call matches the module's interface at its pinned version
  (`terraform-modules/` under the upstream root): no argument the module does not declare, every
  required variable given, literal values shaped like the declared types (object attributes
  included), every `module.X.Y` naming a declared output;
- every `var.`, `local.`, `module.`, `data.` and resource reference resolves inside its root
  module, and every `terraform_remote_state` output read is declared by the layer it reads;
  every declared variable is used;
- `required_providers` pins exact versions that satisfy every module's own constraints, and
  declares every provider the modules require (otherwise Terraform would pick one unpinned);
- checkov's terraform framework passes (the command in $KUBEPLAN_CHECKOV, else `checkov`);
  checks that do not apply are skipped inline in the code, never here;
- BIND zone files pass `named-checkzone`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

from kubeplan.check.tftypes import EXACT, conforms, parse_type, satisfies
from kubeplan.errors import Finding

NAME = "terraform"
TERRAFORM_DIR = "terraform"
ONPREM_DIR = "onprem"
CHECKOV_ENV = "KUBEPLAN_CHECKOV"
META_ARGUMENTS = {"source", "version", "count", "for_each", "providers", "depends_on"}
_PROVIDER_PREFIXES = ("google_", "aws_", "azurerm_", "azapi_", "random_", "tls_", "time_",
                      "null_", "kubernetes_", "modtm_", "harbor_", "vault_")
_REF = re.compile(
    r"(?<![\w.\-\]])(?P<root>var|local|module|data|[a-z][a-z0-9]*_[a-z0-9_]+)"
    r"\.(?P<name>[A-Za-z_][\w-]*)(?P<rest>(?:\[[^\]]*\])?(?:\.[A-Za-z_][\w-]*(?:\[[^\]]*\])?)*)")


@dataclass
class Root:
    """One root module: its folder and the parsed content of its files."""

    path: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def blocks(self, kind: str) -> Iterator[tuple[str, list[str], dict[str, Any]]]:
        """(file, labels, body) of every top-level block of `kind`."""
        for name, data in sorted(self.files.items()):
            for entry in data.get(kind, []):
                yield from _labelled(name, entry, [])


def _unquote(text: Any) -> Any:
    if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def _labelled(file: str, entry: dict[str, Any], labels: list[str]
              ) -> Iterator[tuple[str, list[str], dict[str, Any]]]:
    if entry.get("__is_block__"):
        yield file, labels, entry
        return
    for key, value in entry.items():
        if isinstance(value, dict):
            yield from _labelled(file, value, [*labels, _unquote(key)])


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "__comments__":
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _code(text: str) -> str:
    """The expression parts of a value: `${...}` regions, or the whole expression, with the
    literal parts of quoted strings blanked (a description naming `var.x` is not a reference)."""
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    elif text.startswith('"'):
        return " ".join(_interpolations(text))
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == '"':
            j = i + 1
            chunk = ['"']
            while j < len(text) and text[j] != '"':
                if text[j] == "\\":
                    j += 2
                    continue
                if text.startswith("${", j):
                    end = _matching(text, j + 1)
                    chunk.append(" " + text[j + 2:end] + " ")
                    j = end + 1
                    continue
                j += 1
            out.append("".join(chunk) + '"')
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _matching(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return len(text) - 1


def _interpolations(text: str) -> list[str]:
    out = []
    i = text.find("${")
    while i != -1:
        if i > 0 and text[i - 1] == "$":
            i = text.find("${", i + 2)
            continue
        end = _matching(text, i + 1)
        out.append(_code("${" + text[i + 2:end] + "}"))
        i = text.find("${", end)
    return out


@cache
def parse(text: str) -> dict[str, Any]:
    """python-hcl2's reading of a .tf file, cached by content (the parser is slow and callers
    in one process often read the same files)."""
    data: dict[str, Any] = hcl2.loads(text)
    return data


# --- upstream interfaces ---------------------------------------------------------------------


@cache
def _interfaces(upstream: Path) -> dict[tuple[str, str], dict[str, Any]]:
    folder = upstream / "terraform-modules"
    index = folder / "index.json"
    if not index.is_file():
        return {}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in json.loads(index.read_text("utf-8"))["modules"]:
        path = folder / entry["file"]
        if path.is_file():
            interface = json.loads(path.read_text("utf-8"))
            out[(entry["source"], entry["version"])] = interface
            # The same release called from Git at the tag's commit.
            sub = "" if entry["module_path"] in ("", ".") else f"//{entry['module_path']}"
            git = f"git::{entry['repository']}.git{sub}?ref={entry['commit']}"
            out[(git, "")] = interface
    return out


@cache
def _type(text: str | None) -> Any:
    return parse_type(text)


# --- per-root checks -------------------------------------------------------------------------


@dataclass
class _Scope:
    variables: set[str] = field(default_factory=set)
    locals: set[str] = field(default_factory=set)
    resources: set[str] = field(default_factory=set)
    data: set[str] = field(default_factory=set)
    modules: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    remote: dict[str, Path | None] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)


def _scope(root: Root, tree: Path) -> _Scope:
    scope = _Scope()
    for _, labels, _ in root.blocks("variable"):
        scope.variables.add(labels[0])
    for _, _, body in root.blocks("locals"):
        scope.locals.update(k for k in body if not k.startswith("__"))
    for _, labels, _ in root.blocks("resource"):
        scope.resources.add(".".join(labels))
    for _, labels, body in root.blocks("data"):
        scope.data.add(".".join(labels))
        if labels[0] == "terraform_remote_state":
            scope.remote[labels[1]] = _remote_root(body, tree)
    for _, labels, _ in root.blocks("output"):
        scope.outputs.add(labels[0])
    return scope


def _remote_root(body: dict[str, Any], tree: Path) -> Path | None:
    """The root folder a remote state reads: `<environment>/<layer>` from prefix or key."""
    config = body.get("config")
    if isinstance(config, list):
        config = config[0] if config else {}
    if not isinstance(config, dict):
        return None
    where = _unquote(config.get("prefix")) or _unquote(config.get("key")) or ""
    parts = str(where).removesuffix("/terraform.tfstate").removesuffix(".tfstate").split("/")
    if len(parts) != 2:
        return None
    return tree / TERRAFORM_DIR / parts[0] / parts[1]


def _outputs_of(folder: Path) -> set[str] | None:
    if not folder.is_dir():
        return None
    names: set[str] = set()
    for path in sorted(folder.glob("*.tf")):
        try:
            data = parse(path.read_text("utf-8"))
        except Exception:  # reported when that root is checked itself
            continue
        for entry in data.get("output", []):
            names.update(_unquote(k) for k in entry if not k.startswith("__"))
    return names


def _check_root(root: Root, tree: Path, upstream: Path, rel: str) -> list[Finding]:
    findings: list[Finding] = []

    def add(file: str, message: str) -> None:
        findings.append(Finding(f"{rel}/{file}", message, NAME))

    interfaces = _interfaces(upstream)
    scope = _scope(root, tree)
    module_providers: dict[str, dict[str, Any]] = {}
    required_versions: list[tuple[str, str]] = []
    for file, labels, body in root.blocks("module"):
        name = labels[0]
        source, version = _unquote(body.get("source")), _unquote(body.get("version", ""))
        interface = interfaces.get((str(source), str(version)))
        scope.modules[name] = interface
        if interface is None:
            add(file, f"module {name}: no interface for {source} {version} under "
                      "terraform-modules/ (call a release the upstream data has, by registry "
                      "version or by its tag's commit)")
            continue
        module_providers[name] = interface.get("required_providers", {})
        if interface.get("required_version"):
            required_versions.append((name, interface["required_version"]))
        declared = interface["variables"]
        given = {k for k in body if not k.startswith("__") and k not in META_ARGUMENTS}
        for arg in sorted(given - set(declared)):
            add(file, f"module {name}: argument {arg!r} is not a variable of {source} {version}")
        for var_name, spec in sorted(declared.items()):
            if spec.get("required") and var_name not in given:
                add(file, f"module {name}: required variable {var_name!r} is not given")
        for arg in sorted(given & set(declared)):
            for problem in conforms(body[arg], _type(declared[arg].get("type")), arg):
                add(file, f"module {name}: {problem}")

    _check_references(root, scope, add)
    _check_versions(root, module_providers, required_versions, add)
    unique = {(f.file, f.message): f for f in findings}
    return [unique[key] for key in sorted(unique)]


Report = Callable[[str, str], None]


def _check_references(root: Root, scope: _Scope, add: Report) -> None:
    used_variables: set[str] = set()
    remote_outputs: dict[str, set[str] | None] = {}
    for file, data in sorted(root.files.items()):
        for text in _strings(data):
            if "." not in text:
                continue
            for match in _REF.finditer(_code(text)):
                kind, name, rest = match["root"], match["name"], match["rest"]
                attrs = re.sub(r"\[[^\]]*\]", "", rest).split(".")[1:]
                if kind == "var":
                    used_variables.add(name)
                    if name not in scope.variables:
                        add(file, f"var.{name} is not declared in this root module")
                elif kind == "local":
                    if name not in scope.locals:
                        add(file, f"local.{name} is not declared in this root module")
                elif kind == "module":
                    if name not in scope.modules:
                        add(file, f"module.{name} is not called in this root module")
                        continue
                    interface = scope.modules[name]
                    if attrs and interface is not None and attrs[0] not in interface["outputs"]:
                        add(file, f"module.{name}.{attrs[0]}: the module declares no such "
                                  "output")
                elif kind == "data":
                    if not attrs:
                        continue
                    address = f"{name}.{attrs[0]}"
                    if address not in scope.data:
                        add(file, f"data.{address} is not declared in this root module")
                    elif name == "terraform_remote_state" and len(attrs) >= 3 \
                            and attrs[1] == "outputs":
                        folder = scope.remote.get(attrs[0])
                        key = str(folder)
                        if key not in remote_outputs:
                            remote_outputs[key] = _outputs_of(folder) if folder else None
                        declared = remote_outputs[key]
                        if declared is None:
                            add(file, f"data.terraform_remote_state.{attrs[0]} reads a state "
                                      "whose root module is not in this tree")
                        elif attrs[2] not in declared:
                            add(file, f"data.terraform_remote_state.{attrs[0]}.outputs."
                                      f"{attrs[2]}: that layer declares no such output")
                elif kind.startswith(_PROVIDER_PREFIXES) and \
                        f"{kind}.{name}" not in scope.resources:
                    add(file, f"{kind}.{name} is not declared in this root module")
    for _, labels, _ in root.blocks("variable"):
        if labels[0] not in used_variables:
            add("variables.tf", f"variable {labels[0]!r} is declared but never used")


def _check_versions(root: Root, module_providers: dict[str, dict[str, Any]],
                    required_versions: list[tuple[str, str]], add: Report) -> None:
    pinned: dict[str, str] = {}
    terraform_version = None
    for file, _, body in root.blocks("terraform"):
        if "required_version" in body:
            terraform_version = str(_unquote(body["required_version"]))
            if not EXACT.match(terraform_version):
                add(file, f"required_version {terraform_version!r} is not an exact version")
        for providers in body.get("required_providers", []):
            for name, spec in providers.items():
                if name.startswith("__") or not isinstance(spec, dict):
                    continue
                version = str(_unquote(spec.get("version", "")))
                pinned[name] = version
                if not EXACT.match(version):
                    add(file, f"provider {name}: version {version!r} is not an exact pin")
    for module, providers in sorted(module_providers.items()):
        for name, spec in sorted(providers.items()):
            if name not in pinned:
                add("versions.tf", f"module {module} requires provider {name!r}, which "
                                   "required_providers does not pin")
                continue
            constraint = spec.get("version")
            if constraint and EXACT.match(pinned[name]) and not satisfies(pinned[name], constraint):
                add("versions.tf", f"provider {name} {pinned[name]} does not satisfy module "
                                   f"{module}'s constraint {constraint!r}")
    if terraform_version and EXACT.match(terraform_version):
        for module, constraint in required_versions:
            if not satisfies(terraform_version, constraint):
                add("versions.tf", f"Terraform {terraform_version} does not satisfy module "
                                   f"{module}'s required_version {constraint!r}")


# --- checkov and named-checkzone -------------------------------------------------------------


def _digest(folder: Path, pattern: str) -> str:
    sha = hashlib.sha256()
    for path in sorted(folder.rglob(pattern)):
        sha.update(str(path.relative_to(folder)).encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


_CHECKOV_CACHE: dict[str, list[tuple[str, str]]] = {}


def checkov_command() -> str | None:
    explicit = os.environ.get(CHECKOV_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("checkov")


def checkov(folder: Path, tree: Path) -> list[Finding]:
    """checkov's terraform checks over `folder` (every root below it), findings relative to
    `tree`. One run covers many roots: checkov's start-up dominates its time."""
    command = checkov_command()
    where = str(folder.relative_to(tree)) if folder != tree else "."
    if command is None:
        return [Finding(where, f"checkov not found: install it and point ${CHECKOV_ENV} at the "
                               "command (scripts/test.sh does)", NAME)]
    # Same content, same verdict: several callers in one process validate the same trees.
    digest = _digest(folder, "*.tf")
    if digest not in _CHECKOV_CACHE:
        result = subprocess.run(
            [command, "--directory", str(folder), "--framework", "terraform", "--output", "json",
             "--quiet", "--compact", "--skip-download", "--download-external-modules", "false"],
            capture_output=True, text=True, check=False,
            env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
        try:
            report = json.loads(result.stdout or "{}")
        except json.JSONDecodeError:
            return [Finding(where, f"checkov failed: {result.stderr.strip()[-500:]}", NAME)]
        reports = report if isinstance(report, list) else [report]
        failed: list[tuple[str, str]] = []
        for part in reports:
            for check in part.get("results", {}).get("failed_checks", []):
                file = str(check.get("file_path", "")).lstrip("/")
                failed.append((file, f"checkov {check['check_id']} "
                                     f"({check.get('check_name', '')}) on "
                                     f"{check.get('resource', '?')}"))
        _CHECKOV_CACHE[digest] = sorted(failed)
    prefix = "" if where == "." else f"{where}/"
    return [Finding(f"{prefix}{file}", message, NAME) for file, message in _CHECKOV_CACHE[digest]]


def check_zone_files(tree: Path) -> list[Finding]:
    """named-checkzone on every BIND zone file under onprem/."""
    zones = sorted((tree / ONPREM_DIR).rglob("*.zone")) if (tree / ONPREM_DIR).is_dir() else []
    if not zones:
        return []
    command = shutil.which("named-checkzone")
    if command is None:
        return [Finding(ONPREM_DIR, "named-checkzone not found (Debian bind9-utils)", NAME)]
    findings = []
    for zone in zones:
        origin = zone.name.removesuffix(".zone")
        for line in zone.read_text("utf-8").splitlines():
            if line.startswith("$ORIGIN"):
                origin = line.split()[1].rstrip(".")
                break
        result = subprocess.run([command, "-k", "fail", "-n", "fail", origin, str(zone)],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            findings.append(Finding(str(zone.relative_to(tree)),
                                    f"named-checkzone: {result.stdout.strip()}", NAME))
    return findings


# --- entry point -----------------------------------------------------------------------------


def _roots(tree: Path) -> Iterable[Path]:
    folder = tree / TERRAFORM_DIR
    if not folder.is_dir():
        return []
    return sorted({p.parent for p in folder.rglob("*.tf")})


def check_roots(tree: Path, upstream: Path) -> list[Finding]:
    """Parsing, module interfaces, references and version pins of every root module."""
    findings: list[Finding] = []
    for folder in _roots(tree):
        rel = str(folder.relative_to(tree))
        root = Root(folder)
        for path in sorted(folder.glob("*.tf")):
            try:
                root.files[path.name] = parse(path.read_text("utf-8"))
            except Exception as error:  # the parser raises several unrelated types
                findings.append(Finding(f"{rel}/{path.name}", f"does not parse: {error}", NAME))
        findings += _check_root(root, tree, upstream, rel)
    return findings


def validate(tree: Path, upstream: Path) -> list[Finding]:
    findings = check_roots(tree, upstream)
    if (tree / TERRAFORM_DIR).is_dir():
        findings += checkov(tree / TERRAFORM_DIR, tree)
    findings += check_zone_files(tree)
    return findings


__all__ = ["NAME", "check_roots", "check_zone_files", "checkov", "checkov_command", "parse",
           "validate"]
