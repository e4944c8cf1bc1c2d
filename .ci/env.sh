# Sourced by ./run-tests and ./run-demo: a virtual environment with the server
# side and the test tools, installed from the hashed lock requirements/dev.txt
# (pip --require-hashes), then the checkout itself (pip install --no-deps -e .);
# made or refreshed when pyproject.toml or the lock changes (docs/packaging.md).
# Nothing is installed outside the checkout.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/.venv"

# Steps are timed: each one prints its duration when the next starts ("<== name: N s"),
# and timing_summary (run at exit by ./run-tests) lists them all with the total.
RUN_STARTED=$(date +%s)
STEP_NAME=
STEP_STARTED=
STEP_TIMES=()

step() {
    step_end
    STEP_NAME="$*"
    STEP_STARTED=$(date +%s)
    printf '\n==> %s\n' "$*"
}

step_end() {
    [ -n "$STEP_NAME" ] || return 0
    local took=$(( $(date +%s) - STEP_STARTED ))
    printf '<== %s: %d s\n' "$STEP_NAME" "$took"
    STEP_TIMES+=("$(printf '%6d s  %s' "$took" "$STEP_NAME")")
    STEP_NAME=
}

timing_summary() {
    step_end
    printf '\n==> time of each step (load average now: %s)\n' "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    printf '%s\n' ${STEP_TIMES[@]+"${STEP_TIMES[@]}"}
    printf '%6d s  total\n' $(( $(date +%s) - RUN_STARTED ))
}

host_python() {
    for candidate in "${PILOT_HOST_PYTHON:-}" python3 python3.13 python3.12 python3.11 python3.10 python3.9; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "run: the server side needs Python 3.9 or newer (none found; set PILOT_HOST_PYTHON)" >&2
    return 1
}

ensure_venv() {
    local stamp="$VENV/.pilots2-setup" wanted
    wanted=$(cat "$REPO/pyproject.toml" "$REPO/requirements/dev.txt" | sha256sum | cut -d' ' -f1)
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        return 0
    fi
    step "preparing $VENV (server side and test tools)"
    local python
    python=$(host_python) || return 1
    [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --require-hashes -r "$REPO/requirements/dev.txt"
    # setuptools comes from the lock (the build group): no unpinned build environment
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$REPO"
    echo "$wanted" > "$stamp"
}
