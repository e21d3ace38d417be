# Shared helpers for scripts/*: where the repository is, messages, and running
# a command as root. Sourced, never run.

EDGE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EDGE_SCRIPT=${0##*/}

# The .NET CLI otherwise prints a banner and telemetry notice on first use,
# which would end up in CI logs and in parsed output.
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

edge_say() { printf '%s: %s\n' "$EDGE_SCRIPT" "$*" >&2; }
edge_die() { printf '%s: error: %s\n' "$EDGE_SCRIPT" "$*" >&2; exit 1; }

# Runs "$@" as root: directly when root, through sudo otherwise. Without a
# terminal (CI) sudo must not wait for a password nobody can type.
edge_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
    else
        edge_die "'$*' needs root, and this is user $(id -un) without sudo. Run it as root, or install sudo, then run ${EDGE_SCRIPT} again."
    fi
}

# Media cache shared by scripts/lib/test-clip, scripts/fake-camera and the
# test fixtures (which call scripts/lib/test-clip).
edge_media_dir() {
    if [ -n "${EDGE_TEST_MEDIA_DIR:-}" ]; then
        printf '%s\n' "$EDGE_TEST_MEDIA_DIR"
    elif [ -n "${XDG_CACHE_HOME:-}" ]; then
        printf '%s\n' "$XDG_CACHE_HOME/edge-test-media"
    elif [ -n "${HOME:-}" ]; then
        printf '%s\n' "$HOME/.cache/edge-test-media"
    else
        edge_die "neither EDGE_TEST_MEDIA_DIR, XDG_CACHE_HOME nor HOME is set, so there is no place to cache test media. Set one of them."
    fi
}
