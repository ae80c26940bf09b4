#!/usr/bin/env bash
# requests' own test suite against ManagedSession, on every requests x urllib3
# combination of downstream/matrix.txt (the oldest pair pyproject.toml allows,
# the current pair, the newest releases), one after the other, each in its own
# fresh venv (downstream/run_requests_suite.sh). The wheel is built once and
# installed in each. Prints one result line per combination; fails if any
# combination failed.
#
# Usage: bash downstream/run_matrix.sh [NAME...] [-- pytest args...]
#   bash downstream/run_matrix.sh                 # every combination
#   bash downstream/run_matrix.sh oldest -- -k redirect
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
start=$SECONDS

names=()
while [[ $# -gt 0 && $1 != -- ]]; do
    names+=("$1")
    shift
done
[[ ${1:-} == -- ]] && shift

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# bash 4 + set -u: an empty array expands with ${a[@]+...}
python3 downstream/matrix.py ${names[@]+"${names[@]}"} >"$work/matrix.tsv"
[[ -s $work/matrix.tsv ]] || { echo "no combination to run"; exit 1; }

echo "== building the wheel once for every combination"
"$python" -m pip -q --disable-pip-version-check wheel --no-deps -w "$work/dist" .
wheels=("$work"/dist/requests_managed-*-py3-none-any.whl)
[[ ${#wheels[@]} -eq 1 && -f ${wheels[0]} ]] || { echo "expected one wheel"; exit 1; }

summary="$work/summary.tsv"
: >"$summary"
failed=0
while IFS=$'\t' read -r name requests_req urllib3_req; do
    echo
    echo "==== $name: $requests_req, $urllib3_req"
    before=$(wc -l <"$summary")
    COMBINATION=$name REQUESTS=$requests_req URLLIB3=$urllib3_req \
        PROJECT="${wheels[0]}" SUMMARY="$summary" \
        bash downstream/run_requests_suite.sh "$@" </dev/null || failed=1
    if [[ $(wc -l <"$summary") -eq $before ]]; then
        # it failed before running pytest (an install step): say so
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$requests_req" "$urllib3_req" \
            1 "-" "set-up failed (see above)" >>"$summary"
        failed=1
    fi
done <"$work/matrix.tsv"

echo
echo "== requests' own suite against ManagedSession, per combination"
row='%-12s %-9s %-9s %-5s %-8s %s\n'
# the format is ours
# shellcheck disable=SC2059
printf "$row" combination requests urllib3 exit seconds "pytest's result"
while IFS=$'\t' read -r -a fields; do
    # shellcheck disable=SC2059
    printf "$row" "${fields[@]}"
done <"$summary"
count=$(wc -l <"$summary")
echo "matrix: $count combination$([[ $count -eq 1 ]] || echo s) in $((SECONDS - start)) s"
exit "$failed"
