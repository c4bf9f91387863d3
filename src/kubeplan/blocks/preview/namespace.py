"""What a preview namespace carries, and the admission checks that hold it to exactly that.

The platform's policies find preview namespaces by their metadata: the gateways' preview
listener, Kyverno's generated NetworkPolicies and image rules by the preview label, Pod Security
Admission by its labels, policy-controller's webhook by its include label, the mesh by its
enrolment. Whoever writes a preview namespace (Argo CD from an ApplicationSet, Flux from a
request the pipeline commits) is held by a ValidatingAdmissionPolicy to exactly these labels and
annotations, plus those its own controller adds: a namespace that dropped one would escape a
policy, and one that added another could claim to be something else (a `kubeplan.dev/tier:
platform` label would let it into the platform's trust zone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubeplan.model import Plan
from kubeplan.render.gitops.baseline import (
    image_policy_labels,
    mesh_enrolment,
    pod_security_labels,
)
from kubeplan.render.gitops.network import PREVIEW_LABEL

# The API server sets this label on every namespace to its name (before validating admission).
NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Metadata:
    labels: dict[str, str]
    annotations: dict[str, str]


def metadata(plan: Plan) -> Metadata:
    """The labels and annotations every preview namespace is created with: those of the
    application namespace that policies select by (restricted Pod Security pinned to the
    cluster's version, the image policies' include label, the mesh enrolment), plus the
    preview label. No tier label: previews are neither applications nor platform."""
    mesh_labels, mesh_annotations = mesh_enrolment(plan)
    labels = {**pod_security_labels("restricted", plan.metadata.kubernetes_version),
              **PREVIEW_LABEL, **image_policy_labels(plan), **mesh_labels}
    return Metadata(dict(sorted(labels.items())), dict(sorted(mesh_annotations.items())))


def cel_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _cel_map(entries: Mapping[str, str]) -> str:
    """A CEL map literal from keys to CEL expressions."""
    return "{" + ", ".join(f"{cel_string(k)}: {v}" for k, v in sorted(entries.items())) + "}"


def _cel_list(values: list[str]) -> str:
    return "[" + ", ".join(cel_string(v) for v in sorted(values)) + "]"


def admission_checks(required: Metadata, controller_labels: Mapping[str, str],
                     controller_annotations: Mapping[str, str], *,
                     unless: str = "") -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(variables, validations) of a ValidatingAdmissionPolicy holding a namespace to the
    `required` metadata. Its controller's own additions are allowed, not required; they are
    CEL expressions (they may name the namespace). `unless` is a CEL condition under which the
    checks do not apply (the policy's other resources, deletions)."""
    labels = {**{k: cel_string(v) for k, v in required.labels.items()},
              NAME_LABEL: "object.metadata.name", **controller_labels}
    annotations = {**{k: cel_string(v) for k, v in required.annotations.items()},
                   **controller_annotations}
    variables = [{"name": "allowedLabels", "expression": _cel_map(labels)},
                 {"name": "allowedAnnotations", "expression": _cel_map(annotations)}]
    guard = f"{unless} || " if unless else ""
    label_check = (
        "(has(object.metadata.labels) && "
        "object.metadata.labels.all(k, k in variables.allowedLabels && "
        "object.metadata.labels[k] == variables.allowedLabels[k]) && "
        f"{_cel_list(list(required.labels))}.all(k, k in object.metadata.labels))")
    annotation_check = (
        "((!has(object.metadata.annotations) || "
        "object.metadata.annotations.all(k, k in variables.allowedAnnotations && "
        "object.metadata.annotations[k] == variables.allowedAnnotations[k])) && "
        f"{_cel_list(list(required.annotations))}.all(k, "
        "has(object.metadata.annotations) && k in object.metadata.annotations))")
    listing = ", ".join(f"{k}={v}" for k, v in sorted(required.labels.items()))
    validations = [
        {"expression": guard + label_check,
         "message": f"preview namespaces carry exactly the labels the platform's policies select "
                    f"them by ({listing}) and no others"},
        {"expression": guard + annotation_check,
         "message": "preview namespaces carry the platform's annotations"
                    + (f" ({', '.join(f'{k}={v}' for k, v in required.annotations.items())})"
                       if required.annotations else "")
                    + " and no others"},
    ]
    return variables, validations
