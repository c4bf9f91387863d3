"""GitHub Actions helpers: pinned action references, steps, cloud logins and the serialiser.

Every action is referenced by the full commit SHA from the catalogue; the serialiser writes the
tag next to it as a comment (`uses: owner/repo@<sha>  # v1.2.3`), which is how Dependabot and
Renovate keep such pins up to date.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kubeplan import catalogue
from kubeplan.render.serialise import to_yaml

RUNNER = "ubuntu-24.04"
_USES = re.compile(r"^(\s*(?:- )?uses: )([\w.-]+/[\w./-]+)@([0-9a-f]{40})$", re.MULTILINE)


def uses(key: str) -> str:
    item = catalogue.action(key)
    return f"{item['repository']}@{item['sha']}"


def step(name: str, *, uses_: str | None = None, with_: Mapping[str, Any] | None = None,
         run: str | None = None, env: Mapping[str, str] | None = None, id_: str | None = None,
         if_: str | None = None) -> dict[str, Any]:
    """A step with its keys in the order people read them. `run` scripts never interpolate
    `${{ }}` expressions: values arrive through `env`, so nothing is spliced into the shell."""
    if run is not None and "${{" in run:
        raise ValueError(f"step {name!r}: pass expressions through env, not into run")
    out: dict[str, Any] = {"name": name}
    if id_:
        out["id"] = id_
    if if_:
        out["if"] = if_
    if uses_:
        out["uses"] = uses(uses_)
    if with_:
        out["with"] = dict(with_)
    if env:
        out["env"] = dict(env)
    if run is not None:
        out["run"] = run
    return out


def checkout(**extra: Any) -> dict[str, Any]:
    # No token left in .git/config for later steps unless a step needs to push.
    return step("Check out", uses_="checkout", with_={"persist-credentials": False, **extra})


def cloud_login(provider: str, region: str, identity: str, *, id_: str = "gcp",
                pool_provider: str = "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
                purpose: str = "") -> list[dict[str, Any]]:
    """Short-lived cloud credentials from the job's OIDC token (needs `id-token: write`).

    `identity` is the expression naming the service account (GCP), role (AWS) or application
    (Azure) to become. A job that logs in twice (promotions: reader, then writer) gives each
    login a `purpose` for its name and (GCP) its own step id and pool provider; the second AWS
    login drops the first one's credentials so it exchanges its own token.
    """
    suffix = f" ({purpose})" if purpose else ""
    if provider == "gcp":
        return [step(f"Authenticate to Google Cloud (Workload Identity Federation){suffix}",
                     id_=id_, uses_="google-auth", with_={
                         "workload_identity_provider": pool_provider,
                         "service_account": identity,
                         "token_format": "access_token",
                     })]
    if provider == "aws":
        return [step(f"Assume the AWS role (OIDC){suffix}", uses_="aws-credentials", with_={
            "role-to-assume": identity,
            "aws-region": region,
            "role-session-name": "github-${{ github.run_id }}",
            **({"unset-current-credentials": True} if purpose else {}),
        })]
    if provider == "azure":
        return [step(f"Sign in to Azure (federated credential){suffix}", uses_="azure-login",
                     with_={
                         "client-id": identity,
                         "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
                         "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
                     })]
    raise ValueError(f"no cloud login on {provider}")


def _pins() -> dict[str, str]:
    return {str(item["sha"]): str(item["version"])
            for item in (catalogue.load().get("actions") or {}).values()}


def dump(workflow: Mapping[str, Any], header: str) -> str:
    """A workflow as YAML with a header comment and each pinned SHA's tag as a comment."""
    text = to_yaml(dict(workflow))
    pins = _pins()

    def annotate(match: re.Match[str]) -> str:
        version = pins.get(match.group(3))
        if version is None:
            raise ValueError(f"{match.group(2)}@{match.group(3)} is not in the catalogue")
        return f"{match.group(1)}{match.group(2)}@{match.group(3)}  # {version}"

    lines = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return lines + _USES.sub(annotate, text)
