#!/usr/bin/env bash
# The test suites of responses and vcrpy, each run twice: plain, and with
# requests_managed.install() active for the whole run; then their per-test
# outcomes compared. The acceptance: with install(), no failure that the
# plain run lacks (DESIGN.md, "Patchers keep working").
#
# In a temporary directory (removed at exit): build a wheel of the checkout
# under test once (pip wheel <checkout>: what `pip install <checkout>`
# installs, at one moment); for each library, a fresh venv with that wheel,
# the library's sdist and the test requirements its sdist names (its
# "tests" extra); its tests run from the unpacked sdist the way its own CI
# runs them offline, with downstream/library_plugin.py loaded, once with
# LIBRARY_MODE=plain and once with LIBRARY_MODE=installed. Offline apart
# from the package index: pytest-socket allows loopback connections only,
# and the plugin answers every other name lookup with "unknown name".
# downstream/compare_library_outcomes.py then compares the two runs:
# the tests that fail plain too must be listed, each with its reason, in
# downstream/library_known_failures.LIBRARY.txt (a stale entry fails).
#
# Usage: bash downstream/run_library_suites.sh [CHECKOUT]
#   bash downstream/run_library_suites.sh                # this repo
#   bash downstream/run_library_suites.sh ../other-checkout  # another checkout
#   LIBRARIES=vcrpy bash downstream/run_library_suites.sh
# Environment (all optional):
#   LIBRARIES   which suites, of "responses vcrpy" (default: both)
#   RESPONSES   pip requirement for responses (default: responses==0.26.3)
#   VCRPY       pip requirement for vcrpy (default: vcrpy==9.4.2)
#   PYTHON      the interpreter for the venvs (default: python3; vcrpy 9
#               needs >= 3.11)
#   LOGS        a directory to copy each run's pytest log and outcomes into
#   REVISION    build the wheel from this commit of the checkout (git
#               archive), leaving out what is uncommitted there; default:
#               the checkout's working tree, as `pip install <checkout>`
#   PYTEST_ARGS extra pytest arguments for every run (word-split)
# Exit status: 0 clean; 1 a regression (or a run that did not complete);
# 2 only a known-failures list is out of date.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
checkout=$(cd "${1:-$repo}" && pwd)
python=${PYTHON:-python3}
libraries=${LIBRARIES:-responses vcrpy}
start=$SECONDS

declare -A requirement=(
    [responses]=${RESPONSES:-responses==0.26.3}
    [vcrpy]=${VCRPY:-vcrpy==9.4.2}
)
for lib in $libraries; do
    [[ -n ${requirement[$lib]:-} ]] || { echo "unknown library: $lib"; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/library-suites.XXXXXX")
trap 'rm -rf "$work"' EXIT
pip_quiet=(-q --disable-pip-version-check)

source=$checkout
if [[ -n ${REVISION:-} ]]; then
    # A commit of the checkout, without whatever is uncommitted in it.
    revision=$(git -C "$checkout" rev-parse --short "$REVISION^{commit}")
    source=$work/source
    mkdir -p "$source"
    git -C "$checkout" archive --format=tar "$revision" | tar -x -C "$source"
else
    revision=$(git -C "$checkout" rev-parse --short HEAD 2>/dev/null || echo "no git")
    dirty=$(git -C "$checkout" status --porcelain -- src pyproject.toml 2>/dev/null | wc -l || true)
    if [[ ${dirty:-0} -gt 0 ]]; then
        revision+=" + $dirty uncommitted change(s) in src/ or pyproject.toml"
    fi
fi
echo "== checkout under test: $checkout ($revision); building its wheel"
"$python" -m venv "$work/build"
"$work/build/bin/python" -m pip "${pip_quiet[@]}" wheel --no-deps -w "$work/dist" "$source" 2>&1 \
    | grep -v '^WARNING: Location' || true
wheels=("$work"/dist/requests_managed-*.whl)
[[ ${#wheels[@]} -eq 1 && -f ${wheels[0]} ]] || { echo "expected one requests_managed wheel"; exit 1; }
wheel=${wheels[0]}

# One library's venv and unpacked sdist, in $work/$lib (runs in the background).
setup() {
    local lib=$1 req=$2 dir=$work/$1
    mkdir -p "$dir"
    "$python" -m venv "$dir/venv"
    local pip=("$dir/venv/bin/python" -m pip "${pip_quiet[@]}")
    "${pip[@]}" download --no-deps --no-binary :all: "$req" -d "$dir/sdist"
    local sdists=("$dir"/sdist/*.tar.gz)
    [[ ${#sdists[@]} -eq 1 && -f ${sdists[0]} ]] || { echo "expected one $lib sdist"; return 1; }
    tar -xzf "${sdists[0]}" -C "$dir"
    local name
    name=$(basename "${sdists[0]}" .tar.gz)
    ln -s "$dir/$name" "$dir/suite"
    # The checkout's wheel, the library from its sdist with the test
    # requirements the sdist names, and the offline guards; one resolve.
    "${pip[@]}" install "$wheel" "${sdists[0]}[tests]" 'pytest-socket>=0.7' 'pytest-timeout>=2.3'
}

echo "== venvs for: $libraries (in parallel)"
declare -A setup_pid=()
for lib in $libraries; do
    setup "$lib" "${requirement[$lib]}" >"$work/setup-$lib.log" 2>&1 &
    setup_pid[$lib]=$!
done
for lib in $libraries; do
    if ! wait "${setup_pid[$lib]}"; then
        grep -v '^WARNING: Location' "$work/setup-$lib.log" | tail -n 30
        echo "== setting up $lib failed"
        exit 1
    fi
done
echo "   set up in $((SECONDS - start)) s"

# How each library's own CI runs its tests offline, less coverage.
suite_args() {
    case $1 in
        # tox.ini: pytest . --asyncio-mode=auto (its [pytest] section sets
        # filterwarnings = error, which stays on)
        responses) echo ". --asyncio-mode=auto" ;;
        # runtests.sh: REQUESTS_CA_BUNDLE=$(python -m pytest_httpbin.certs) pytest
        vcrpy) echo "tests" ;;
    esac
}

prepare() {
    local lib=$1 suite=$work/$1/suite
    case $lib in
        vcrpy)
            # tests/integration/test_requests.py::test_post_file uploads the
            # repository's .editorconfig, which the sdist leaves out.
            [[ -e $suite/.editorconfig ]] || printf 'root = true\n' >"$suite/.editorconfig"
            ;;
    esac
}

# run LIB MODE: one pytest run; its outcomes in $work/LIB/MODE.json
run() {
    local lib=$1 mode=$2 dir=$work/$1 py=$work/$1/venv/bin/python
    local env_args=(-u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE)
    if [[ $lib == vcrpy ]]; then
        env_args+=("REQUESTS_CA_BUNDLE=$("$py" -m pytest_httpbin.certs)")
    fi
    local t0=$SECONDS status=0
    # shellcheck disable=SC2046,SC2086
    (cd "$dir/suite" && env "${env_args[@]}" LIBRARY_MODE="$mode" \
        LIBRARY_OUTCOMES="$dir/$mode.json" PYTHONPATH="$here" PYTHONDONTWRITEBYTECODE=1 \
        "$py" -m pytest -p library_plugin -p no:cacheprovider \
        --disable-socket --allow-hosts=127.0.0.1,::1,localhost --allow-unix-socket \
        --timeout=120 -q -rfE $(suite_args "$lib") ${PYTEST_ARGS:-}) \
        >"$dir/$mode.log" 2>&1 || status=$?
    local result
    result=$(grep -E '^=* ?[0-9]+ (passed|failed|error|deselected|skipped)|no tests ran' \
        "$dir/$mode.log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
    echo "   $lib $mode: ${result:-no result line}; pytest exit $status; $((SECONDS - t0)) s"
    if [[ $status -gt 1 && $status -ne 5 ]]; then
        tail -n 30 "$dir/$mode.log"
        echo "   $lib $mode: pytest did not complete (exit $status)"
        return 1
    fi
}

summary=$work/summary.tsv
: >"$summary"
overall=0
for lib in $libraries; do
    dir=$work/$lib
    versions=$("$dir/venv/bin/python" -c '
import importlib.metadata as m
print(", ".join(f"{n} {m.version(n)}" for n in ("'"$lib"'", "requests", "urllib3", "requests-managed")))')
    echo "== $lib: $versions"
    prepare "$lib"
    complete=1
    run "$lib" plain || complete=0
    run "$lib" installed || complete=0
    status=0
    "$dir/venv/bin/python" "$here/compare_library_outcomes.py" "$lib" \
        "$dir/plain.json" "$dir/installed.json" \
        "$here/library_known_failures.$lib.txt" "$summary" || status=$?
    [[ $complete -eq 1 ]] || status=1
    if [[ -n ${LOGS:-} ]]; then
        mkdir -p "$LOGS"
        for mode in plain installed; do
            cp "$dir/$mode.log" "$LOGS/$lib.$mode.log" 2>/dev/null || true
            cp "$dir/$mode.json" "$LOGS/$lib.$mode.json" 2>/dev/null || true
        done
    fi
    if [[ $status -eq 1 || $overall -eq 1 ]]; then
        overall=1
    elif [[ $status -ne 0 ]]; then
        overall=$status
    fi
done

echo
echo "== summary ($checkout at $revision; $((SECONDS - start)) s)"
printf '   %-10s %-45s %-45s %s\n' library plain installed regressions
while IFS=$'\t' read -r lib plain installed regressions; do
    printf '   %-10s %-45s %-45s %s\n' "$lib" "$plain" "$installed" "$regressions"
done <"$summary"
case $overall in
    0) echo "== no regressions" ;;
    1) echo "== REGRESSIONS (or an incomplete run): see above" ;;
    *) echo "== no regressions, but a known-failures list is out of date: see above" ;;
esac
exit "$overall"
