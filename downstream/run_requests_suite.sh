#!/usr/bin/env bash
# Prove drop-in mechanically: run requests' own test suite with
# requests.Session replaced by ManagedSession (requests_managed.install()).
#
# In a fresh venv in a temporary directory: install this project (the
# checkout, or the wheel given in PROJECT) with the requests and urllib3
# asked for, download the sdist of the requests version that got installed,
# install the test dependencies that sdist names (holding requests and
# urllib3 where they are), and run its tests/ with
# downstream/managed_plugin.py loaded. The tests listed in
# downstream/expected_differences.txt, and for a named combination in
# downstream/expected_differences.NAME.txt if present (each with its
# reason), are deselected; everything else must pass. Offline apart from
# the package index: pytest-socket allows connections to loopback only, and
# the plugin answers every other name lookup with "unknown name".
#
# Usage: bash downstream/run_requests_suite.sh [pytest args...]
#   PYTHON=python3.12 bash downstream/run_requests_suite.sh
#   REQUESTS=requests==2.32.2 URLLIB3=urllib3==2.2.0 bash downstream/run_requests_suite.sh
#   bash downstream/run_requests_suite.sh --managed-differences=only  # re-check the list
#   bash downstream/run_requests_suite.sh -k redirect
# Environment (all optional):
#   REQUESTS, URLLIB3  pip requirements for the two (default: the newest
#                      that pyproject.toml allows)
#   PROJECT            what to install: a wheel of this project (default:
#                      this checkout, editable)
#   COMBINATION        a name from downstream/matrix.txt: adds its
#                      expected_differences.NAME.txt, labels the output
#   SUMMARY            a file to append one tab-separated result line to
#                      (name, requests, urllib3, exit status, seconds,
#                      pytest's counts); a pair already in it is installed,
#                      reported as already run, and not run again
#                      (run_matrix.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-python3}
requests_req=${REQUESTS:-requests}
urllib3_req=${URLLIB3:-urllib3}
name=${COMBINATION:-}
start=$SECONDS

differences=("$repo/downstream/expected_differences.txt")
if [[ -n $name && -f $repo/downstream/expected_differences.$name.txt ]]; then
    differences+=("$repo/downstream/expected_differences.$name.txt")
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venv="$work/venv"
"$python" -m venv "$venv"
py="$venv/bin/python"
pip=("$py" -m pip -q --disable-pip-version-check)

# requests and urllib3 stay at the asked versions in every install below.
: >"$work/constraints.txt"
for req in "$requests_req" "$urllib3_req"; do
    [[ $req == *==* ]] && echo "$req" >>"$work/constraints.txt"
done
project=${PROJECT:-}
if [[ -n $project ]]; then
    project_args=("$project")
else
    project_args=(-e "$repo")
fi
# Only what the run needs from our test extras: pytest-socket (offline,
# loopback only) and pytest-timeout; requests' own test dependencies follow.
"${pip[@]}" install -c "$work/constraints.txt" "${project_args[@]}" \
    "$requests_req" "$urllib3_req" 'pytest-socket>=0.7' 'pytest-timeout>=2.3'

version=$("$py" -c 'import requests; print(requests.__version__)')
urllib3_version=$("$py" -c 'import urllib3; print(urllib3.__version__)')
label="${name:+$name: }requests $version, urllib3 $urllib3_version"
if [[ -n ${SUMMARY:-} && -f $SUMMARY ]]; then
    same=$(awk -F '\t' -v r="$version" -v u="$urllib3_version" \
        '$2 == r && $3 == u && $6 !~ /not run again/ { print $1; exit }' "$SUMMARY")
    if [[ -n $same ]]; then
        echo "== $label: the same pair as '$same', not run again"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${name:--}" "$version" \
            "$urllib3_version" 0 "$((SECONDS - start))" \
            "same pair as $same: not run again" >>"$SUMMARY"
        exit 0
    fi
fi
echo "requests==$version" >>"$work/constraints.txt"
echo "urllib3==$urllib3_version" >>"$work/constraints.txt"

echo "== $label: downloading the requests sdist for tests/"
"${pip[@]}" download --no-deps --no-binary :all: "requests==$version" -d "$work/sdist"
sdists=("$work"/sdist/requests-*.tar.gz)
[[ ${#sdists[@]} -eq 1 && -f ${sdists[0]} ]] || { echo "expected one requests sdist"; exit 1; }
tar -xzf "${sdists[0]}" -C "$work"
suite="$work/requests-$version"
[[ -d $suite/tests ]] || { echo "the requests $version sdist has no tests/"; exit 1; }
# Only the installed requests may be imported, never the sdist's copy.
rm -rf "$suite/src" "$suite/requests"

echo "== requests' test dependencies, as its sdist names them"
if grep -q '^\[dependency-groups\]' "$suite/pyproject.toml" 2>/dev/null; then
    # pip >= 25.1 installs a pyproject.toml's [dependency-groups] (--group)
    "${pip[@]}" install --upgrade 'pip>=25.1'
    "${pip[@]}" install -c "$work/constraints.txt" --group "$suite/pyproject.toml:test"
else
    # older sdists: requirements-dev.txt, less its "-e .[socks]"
    grep -v '^-e' "$suite/requirements-dev.txt" >"$work/test-requirements.txt"
    "${pip[@]}" install -c "$work/constraints.txt" -r "$work/test-requirements.txt" \
        "requests[socks]==$version"
fi
"$py" - "$version" "$urllib3_version" <<'PY'
import sys

import requests
import urllib3

found = (requests.__version__, urllib3.__version__)
assert found == tuple(sys.argv[1:]), f"the test dependencies moved us to {found}"
PY

echo "== $label: requests' tests against ManagedSession"
setup=$((SECONDS - start))
cd "$suite"
status=0
# the differences files, separated as PATH entries are
list=$(IFS=:; echo "${differences[*]}")
MANAGED_DIFFERENCES="$list" \
PYTHONPATH="$repo/downstream${PYTHONPATH:+:$PYTHONPATH}" "$py" -m pytest \
    -p managed_plugin -p no:cacheprovider \
    --disable-socket --allow-hosts=127.0.0.1,::1,localhost --allow-unix-socket \
    --timeout=120 -q -rfE tests "$@" 2>&1 | tee "$work/pytest.log" || status=$?
cd "$repo"
elapsed=$((SECONDS - start))
result=$(grep -E '^=* ?[0-9]+ (passed|failed|error|deselected|skipped)|no tests ran' \
    "$work/pytest.log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
echo "== $label against ManagedSession: ${result:-no result line}; exit $status" \
    "in $elapsed s ($setup s of it venv and installs)"
if [[ -n ${SUMMARY:-} ]]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${name:--}" "$version" "$urllib3_version" \
        "$status" "$elapsed" "${result:-no result line}" >>"$SUMMARY"
fi
exit "$status"
