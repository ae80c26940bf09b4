#!/usr/bin/env bash
# Prove drop-in mechanically: run requests' own test suite with
# requests.Session replaced by ManagedSession (requests_managed.install()).
#
# In a fresh venv in a temporary directory: install this checkout with its
# test extras, download the sdist of the requests version that got
# installed, install the test dependencies that sdist names, and run its
# tests/ with downstream/managed_plugin.py loaded. The tests listed in
# downstream/expected_differences.txt (each with its reason) are deselected;
# everything else must pass. Offline apart from the package index: pytest-socket
# allows connections to loopback only, and the plugin answers every other
# name lookup with "unknown name".
#
# Usage: bash downstream/run_requests_suite.sh [pytest args...]
#   PYTHON=python3.12 bash downstream/run_requests_suite.sh
#   bash downstream/run_requests_suite.sh --managed-differences=only  # re-check the list
#   bash downstream/run_requests_suite.sh -k redirect
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-python3}
start=$SECONDS

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venv="$work/venv"
"$python" -m venv "$venv"
py="$venv/bin/python"
pip=("$py" -m pip -q --disable-pip-version-check)
# pip >= 25.1 installs a pyproject.toml's [dependency-groups] (--group)
"${pip[@]}" install --upgrade 'pip>=25.1'
"${pip[@]}" install -e "$repo[test]"

version=$("$py" -c 'import requests; print(requests.__version__)')
echo "== requests $version: downloading its sdist for tests/"
"${pip[@]}" download --no-deps --no-binary :all: "requests==$version" -d "$work/sdist"
sdists=("$work"/sdist/requests-*.tar.gz)
[[ ${#sdists[@]} -eq 1 && -f ${sdists[0]} ]] || { echo "expected one requests sdist"; exit 1; }
tar -xzf "${sdists[0]}" -C "$work"
suite="$work/requests-$version"
[[ -d $suite/tests ]] || { echo "the requests $version sdist has no tests/"; exit 1; }
# Only the installed requests may be imported, never the sdist's copy.
rm -rf "$suite/src" "$suite/requests"

echo "== requests' test dependencies, as its sdist names them"
echo "requests==$version" >"$work/constraints.txt"
if grep -q '^\[dependency-groups\]' "$suite/pyproject.toml" 2>/dev/null; then
    "${pip[@]}" install -c "$work/constraints.txt" --group "$suite/pyproject.toml:test"
else
    # older sdists: requirements-dev.txt, less its "-e .[socks]"
    grep -v '^-e' "$suite/requirements-dev.txt" >"$work/test-requirements.txt"
    "${pip[@]}" install -c "$work/constraints.txt" -r "$work/test-requirements.txt" \
        "requests[socks]==$version"
fi
"$py" -c "import requests; assert requests.__version__ == '$version', requests.__version__"

echo "== requests $version's tests against ManagedSession"
cd "$suite"
status=0
PYTHONPATH="$repo/downstream${PYTHONPATH:+:$PYTHONPATH}" "$py" -m pytest \
    -p managed_plugin -p no:cacheprovider \
    --disable-socket --allow-hosts=127.0.0.1,::1,localhost --allow-unix-socket \
    --timeout=120 -q -rfE tests "$@" || status=$?
cd "$repo"
echo "requests' suite against ManagedSession: exit $status in $((SECONDS - start)) s"
exit "$status"
