"""`kubeplan schemas pull` against a local HTTP server that serves the upstream root."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kubeplan.check import pull
from kubeplan.cli import main

from .conftest import SHARED_UPSTREAM

pytestmark = pytest.mark.skipif(not SHARED_UPSTREAM.is_dir(), reason="no upstream data")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def mirror() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(SHARED_UPSTREAM))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pull_is_verified_idempotent_and_usable_offline(mirror: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("KUBEPLAN_UPSTREAM", raising=False)
    assert main(["schemas", "pull", "--mirror", mirror]) == 0
    cache = tmp_path / "cache" / "kubeplan" / "upstream"
    listed = pull.manifest()
    assert all((cache / e["path"]).is_file() for e in listed)
    assert (cache / "crds/cert-manager/cert-manager.io_clusterissuers.yaml").read_bytes() == (
        SHARED_UPSTREAM / "crds/cert-manager/cert-manager.io_clusterissuers.yaml").read_bytes()
    again = pull.pull(cache, mirror)
    assert again.fetched == [] and len(again.present) == len(listed)
    # Offline: a second pull without any source finds everything in place.
    assert pull.pull(cache, None).fetched == []


def test_pull_refuses_a_checksum_mismatch(mirror: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {"path": "charts/velero/values.yaml", "sha256": "0" * 64}
    monkeypatch.setattr(pull, "manifest", lambda: [entry])
    with pytest.raises(pull.PullError, match="checksum mismatch"):
        pull.pull(tmp_path, mirror)
    assert not (tmp_path / "charts/velero/values.yaml").exists()
    assert not list((tmp_path / "charts/velero").glob(".*"))


def test_the_list_matches_the_pinned_files() -> None:
    import hashlib
    for entry in pull.manifest():
        path = SHARED_UPSTREAM / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], entry["path"]
