#!/usr/bin/env bash
# Our own test suite on the oldest requests and urllib3 that pyproject.toml
# allows (the "oldest" combination of downstream/matrix.txt): a fresh venv,
# this checkout installed with its test extras while requests and urllib3
# are held at those releases, then pytest as the README runs it. The tests
# listed in downstream/own_suite_deselected.txt (each with its reason) are
# deselected; everything else must pass.
#
# Usage: bash downstream/run_own_suite_oldest.sh [pytest args...]
#   PYTHON=python3.10 bash downstream/run_own_suite_oldest.sh
#   bash downstream/run_own_suite_oldest.sh tests/test_pool.py
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-python3}
start=$SECONDS

IFS=$'\t' read -r name requests_req urllib3_req < <(python3 downstream/matrix.py oldest)
[[ $name == oldest && $requests_req == *==* && $urllib3_req == *==* ]] || {
    echo "downstream/matrix.txt: 'oldest' must pin both requests and urllib3"
    exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venv="$work/venv"
"$python" -m venv "$venv"
py="$venv/bin/python"
printf '%s\n' "$requests_req" "$urllib3_req" >"$work/constraints.txt"
"$py" -m pip -q --disable-pip-version-check install \
    -c "$work/constraints.txt" -e "${repo}[test]"
"$py" - "${requests_req#*==}" "${urllib3_req#*==}" <<'PY'
import sys

import requests
import urllib3

found = (requests.__version__, urllib3.__version__)
assert found == tuple(sys.argv[1:]), f"installed {found}, not {sys.argv[1:]}"
PY
label="requests ${requests_req#*==}, urllib3 ${urllib3_req#*==}"
echo "== our own suite on the oldest supported pair: $label"
setup=$((SECONDS - start))
status=0
PYTHONPATH="$repo/downstream${PYTHONPATH:+:$PYTHONPATH}" "$py" -m pytest \
    -p own_suite_plugin -p no:cacheprovider -q "$@" || status=$?
echo "== our own suite on $label: exit $status in $((SECONDS - start)) s" \
    "($setup s of it venv and installs)"
exit "$status"
