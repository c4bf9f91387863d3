#!/usr/bin/env bash
# Installs everything the tests need, then runs the whole suite: lint, types, layers, tests.
# Usage: bash scripts/test.sh [pytest args...]   (e.g. --update-golden)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies"
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Real upstream validators from Debian, installed only when missing.
# command -> package: promtool, amtool (alert rules and routes), named-checkzone (BIND zones),
# dot (diagrams), chromium (the HTML report in a headless browser).
declare -A DEBS=(
  [promtool]=prometheus
  [amtool]=prometheus-alertmanager
  [named-checkzone]=bind9-utils
  [dot]=graphviz
  [chromium]=chromium
)
missing=()
for cmd in "${!DEBS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${DEBS[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  IFS=$'\n' missing=($(printf '%s\n' "${missing[@]}" | sort -u)); unset IFS
  echo "== apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# checkov pins old packages and ships its own fork of the hcl2 module, which clashes with
# python-hcl2: it lives in a virtualenv of its own and is called as a command.
CHECKOV_VENV="${KUBEPLAN_CHECKOV_VENV:-$HOME/.cache/kubeplan-tools/checkov}"
if [ ! -x "$CHECKOV_VENV/bin/checkov" ]; then
  echo "== installing checkov into $CHECKOV_VENV"
  python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check checkov
fi
export KUBEPLAN_CHECKOV="$CHECKOV_VENV/bin/checkov"
# The tests read the pinned upstream data from the shared copy next to the checkout.
export KUBEPLAN_UPSTREAM="${KUBEPLAN_UPSTREAM:-$(cd .. && pwd)/shared/upstream}"

echo "== ruff"
python3 -m ruff check src tests bench
echo "== mypy (strict)"
python3 -m mypy
echo "== import-linter (layers)"
lint-imports
echo "== pytest"
python3 -m pytest -q -p no:cacheprovider -n auto "$@"
