"""Where the upstream reference data lives (CRDs, chart values and schemas, module interfaces).

The layout is that of the pinned upstream files: `charts/<chart>/values.yaml`,
`crds/<project>/*.yaml`, `terraform-modules/<module>@<version>.json`. Users fill the cache with
`kubeplan schemas pull`; tests point at a local copy with `--upstream` or KUBEPLAN_UPSTREAM.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubeplan.errors import UsageError

ENV = "KUBEPLAN_UPSTREAM"


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "kubeplan" / "upstream"


def upstream_root(explicit: Path | None = None) -> Path:
    """--upstream, else $KUBEPLAN_UPSTREAM, else the pull cache; must exist."""
    candidates = [explicit] if explicit else []
    if os.environ.get(ENV):
        candidates.append(Path(os.environ[ENV]))
    candidates.append(cache_dir())
    for candidate in candidates:
        if candidate is not None and candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates if c is not None)
    raise UsageError(
        f"no upstream reference data found (looked in {tried}); run `kubeplan schemas pull` "
        f"once (it works offline afterwards), or point --upstream / ${ENV} at a copy"
    )
