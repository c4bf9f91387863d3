"""`kubeplan schemas pull`: download the pinned upstream reference files into the local cache.

The list (`data/upstream-files.json`) names every file with its sha256 and, where one exists,
the raw URL of the tagged file on GitHub. A file already in the cache with the right checksum
is not fetched again, so the pull is idempotent and `kubeplan check` works offline afterwards.
`--mirror URL` fetches `<URL>/<path>` instead (an internal copy of the upstream root, which is
also the only source of files without a public URL). Every download is verified before it is
moved into place; a mismatch leaves the cache as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from kubeplan.errors import KubeplanError, UsageError

TIMEOUT_SECONDS = 60


@dataclass
class PullResult:
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # no public URL and no mirror
    failed: list[str] = field(default_factory=list)   # "path: reason"


class PullError(KubeplanError):
    exit_code = 1


def manifest() -> list[dict[str, Any]]:
    text = resources.files("kubeplan").joinpath("data/upstream-files.json").read_text("utf-8")
    files: list[dict[str, Any]] = json.loads(text)["files"]
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safe(root: Path, rel: str) -> Path:
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        raise UsageError(f"refusing the unsafe path {rel!r} in the upstream file list")
    return root.joinpath(*pure.parts)


def _download(url: str, target: Path, sha256: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
                url, timeout=TIMEOUT_SECONDS) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ValueError(f"checksum mismatch (got {digest.hexdigest()[:12]}…, "
                             f"pinned {sha256[:12]}…)")
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def pull(destination: Path, mirror: str | None = None,
         progress: Callable[[str], None] | None = None) -> PullResult:
    """Fill `destination` with the pinned files; raises PullError when any could not be had."""
    if mirror is not None and not mirror.startswith(("http://", "https://", "file://")):
        raise UsageError(f"--mirror must be an http(s) or file URL, not {mirror!r}")
    result = PullResult()
    destination.mkdir(parents=True, exist_ok=True)
    for entry in manifest():
        rel = str(entry["path"])
        target = _safe(destination, rel)
        if target.is_file() and _sha256(target) == entry["sha256"]:
            result.present.append(rel)
            continue
        url = f"{mirror.rstrip('/')}/{rel}" if mirror else entry.get("url")
        if not url:
            result.skipped.append(rel)
            continue
        if progress:
            progress(rel)
        try:
            _download(str(url), target, str(entry["sha256"]))
        except (urllib.error.URLError, OSError, ValueError) as error:
            result.failed.append(f"{rel}: {error}")
            continue
        result.fetched.append(rel)
    if result.failed:
        raise PullError(f"{len(result.failed)} upstream file(s) could not be pulled:\n  "
                        + "\n  ".join(result.failed))
    return result
