#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's `prometheus` (prometheus + promtool),
# used by tests/deploy (rule checks, rule unit tests, the scrape end-to-end test); `graphviz` (dot: the
# analytics journey map) and `chromium` (headless browser for the analytics page tests).
# Idempotent: installs only what is missing. Safe to call from `make setup` / `make test` / .ci/run.
set -uo pipefail

missing=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "system-deps: missing Debian package(s): ${missing[*]} — not root and no passwordless sudo;" >&2
        echo "system-deps: install them with: apt-get update && apt-get install -y ${missing[*]}" >&2
        echo "system-deps: (tests that need them skip locally and fail under CI=true)" >&2
        exit 0
    fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: no apt-get on this machine; install ${missing[*]} yourself" >&2
    exit 0
fi

echo "system-deps: installing ${missing[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq >/dev/null; then
    echo "system-deps: apt-get update failed; cannot install ${missing[*]}" >&2
    exit 0
fi
# --no-install-recommends keeps it small; the Debian package's service is not started in containers
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    echo "system-deps: apt-get install ${missing[*]} failed" >&2
    exit 0
fi
# The package's postinst may start a prometheus service where an init system runs; tests use their own.
for b in prometheus promtool dot chromium; do
    command -v "$b" >/dev/null 2>&1 || echo "system-deps: $b still missing after install" >&2
done
exit 0
