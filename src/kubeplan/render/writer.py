"""Writing an output tree to disk safely.

- A fresh output folder is staged in a temporary sibling and renamed into place in one step.
- An existing output folder is updated file by file with `os.replace` (atomic per file) after
  the whole tree has been staged, so a failed render never leaves a half-written tree, and files
  kubeplan does not own (a `.git`, the user's own notes) are never touched.
- `.kubeplan/manifest.json` records the hash of every generated file. A file whose content no
  longer matches its recorded hash was edited by the user: it is not overwritten (or removed)
  without `force`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubeplan.errors import UsageError
from kubeplan.render.tree import OutputTree

MANIFEST = ".kubeplan/manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)  # user-edited files we would overwrite

    @property
    def touched(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


def read_manifest(out: Path) -> dict[str, str] | None:
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError
        return {str(k): str(v) for k, v in files.items()}
    except (ValueError, KeyError, TypeError):
        raise UsageError(
            f"{path} is not a kubeplan manifest; remove it or choose another output folder"
        ) from None


def plan_changes(tree: OutputTree, out: Path) -> Changes:
    """Compare the tree with what is on disk and in the manifest."""
    changes = Changes()
    manifest = read_manifest(out) or {}
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    if out.is_dir() and not manifest and any(out.iterdir()):
        raise UsageError(
            f"{out} is not empty and holds no kubeplan output ({MANIFEST} is missing); "
            "choose an empty or new folder with -o"
        )
    new = dict(tree)
    for path, content in new.items():
        target = out / path
        if not target.exists():
            changes.added.append(path)
            continue
        current = target.read_bytes()
        if current == content:
            changes.unchanged.append(path)
            continue
        changes.changed.append(path)
        if manifest.get(path) != sha256(current):
            changes.edited.append(path)
    for path, recorded in sorted(manifest.items()):
        if path in new:
            continue
        target = out / path
        if target.exists():
            changes.removed.append(path)
            if sha256(target.read_bytes()) != recorded:
                changes.edited.append(path)
    changes.edited.sort()
    return changes


def write_tree(tree: OutputTree, out: Path, *, force: bool = False,
               progress: Callable[[str], None] | None = None) -> Changes:
    """Write `tree` into `out`; refuses to overwrite user-edited files unless `force`."""
    changes = plan_changes(tree, out)
    if changes.edited and not force:
        listing = "\n".join(f"  {p}" for p in changes.edited)
        raise UsageError(
            f"these files in {out} were edited since the last build and would be "
            f"overwritten or removed:\n{listing}\nkeep your edits elsewhere, or rerun with "
            "--force to overwrite them"
        )
    manifest = {path: sha256(content) for path, content in tree}
    manifest_bytes = (json.dumps({"generator": "kubeplan", "files": manifest}, indent=2,
                                 sort_keys=True) + "\n").encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for path, content in tree:
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        (staging / MANIFEST).parent.mkdir(parents=True, exist_ok=True)
        (staging / MANIFEST).write_bytes(manifest_bytes)
        if not out.exists() or (out.is_dir() and not any(out.iterdir())):
            if out.exists():
                out.rmdir()
            os.replace(staging, out)
            return changes
        for path in [*changes.added, *changes.changed]:
            if progress:
                progress(path)
            target = out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, target)
        for path in changes.removed:
            (out / path).unlink()
            _prune_empty(out, (out / path).parent)
        (out / MANIFEST).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / MANIFEST, out / MANIFEST)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return changes


def _prune_empty(root: Path, folder: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
