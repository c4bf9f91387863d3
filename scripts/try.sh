#!/usr/bin/env bash
# The newcomer's first run: install kubeplan and build the built-in example into ./platform.
# kubeplan needs Graphviz (`dot`) to lay out the architecture diagram; it is installed here
# when missing (Debian/Ubuntu with apt-get; elsewhere it says what to install).
# Usage: bash scripts/try.sh [kubeplan build arguments...]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v dot >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "== installing Graphviz (dot) for the architecture diagram"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends graphviz >/dev/null
  else
    echo "kubeplan needs Graphviz: install it (for example 'brew install graphviz') and rerun" >&2
    exit 2
  fi
fi

python3 -m pip install --quiet --disable-pip-version-check "$here"
kubeplan build "$@"
