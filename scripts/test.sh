#!/usr/bin/env bash
# Installs everything the tests need, then runs the whole suite: lint, types, layers, tests.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

echo "== ruff"
python3 -m ruff check src tests bench
echo "== mypy (strict)"
python3 -m mypy
echo "== import-linter (layers)"
lint-imports
echo "== pytest"
python3 -m pytest -q -p no:cacheprovider "$@"
