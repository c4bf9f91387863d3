"""The check layer: validators of a built (or hand-edited) output tree.

A validator takes the tree's root folder and the upstream data root and returns findings.
Validators see files only, never the spec or the rules, so they work on a user's edited copy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kubeplan.errors import Finding

Validator = Callable[[Path, Path], list[Finding]]

# Validators `kubeplan check` runs, in order; each target's checks register here.
VALIDATORS: list[tuple[str, Validator]] = []


def _register_gitops() -> None:
    """The GitOps tree's validators: core objects, custom resources, Helm values, no Secrets."""
    from kubeplan.check import crds, kubernetes, secrets, values

    VALIDATORS.extend([(kubernetes.NAME, kubernetes.validate), (crds.NAME, crds.validate),
                       (values.NAME, values.validate), (secrets.NAME, secrets.validate)])


_register_gitops()


def _register_terraform() -> None:
    """Terraform roots against the pinned module interfaces, checkov; BIND zones."""
    from kubeplan.check import terraform

    VALIDATORS.append((terraform.NAME, terraform.validate))


_register_terraform()


def run_checks(root: Path, upstream: Path,
               progress: Callable[[str], None] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for name, validator in VALIDATORS:
        if progress:
            progress(name)
        findings.extend(validator(root, upstream))
    return findings


def _register() -> None:
    # Imported here: the validator modules import nothing of this package, only the errors.
    from kubeplan.check import delivery, prometheus

    VALIDATORS.extend(prometheus.VALIDATORS)
    VALIDATORS.extend(delivery.VALIDATORS)


_register()

__all__ = ["VALIDATORS", "Finding", "Validator", "run_checks"]
