"""An output tree in memory: relative POSIX paths to bytes, refusing duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from kubeplan.errors import RenderError


class OutputTree:
    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    def add(self, path: str, content: str | bytes) -> None:
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise RenderError(f"renderer produced an unsafe path {path!r}")
        key = pure.as_posix()
        if key in self._files:
            raise RenderError(f"two renderers produced {key!r}")
        self._files[key] = content.encode("utf-8") if isinstance(content, str) else content

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        return iter(sorted(self._files.items()))

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, path: str) -> bool:
        return path in self._files

    def get(self, path: str) -> bytes:
        return self._files[path]

    def paths(self) -> list[str]:
        return sorted(self._files)
