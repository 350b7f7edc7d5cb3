#!/usr/bin/env bash
# Runs every check and test of Birthright on a fresh machine: formatting, lints, the Rust
# test suites (unit, property, end-to-end against a real registry process, the registrars'
# web workspace in headless Chromium), the Kotlin binding
# tests on the host JVM, and the benchmark smoke run; a short run of every fuzz target when a
# nightly toolchain is present (FUZZ_SECONDS per target, default 20). Installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt and clippy components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "PostgreSQL for the registry's PostgreSQL tests (127.0.0.1:5432 or BIRTHRIGHT_TEST_DATABASE_URL)"
# The conformance suite and the end-to-end test need it; with CI=true an unreachable server
# fails them. Start the local cluster if it is installed but stopped.
if [ -z "${BIRTHRIGHT_TEST_DATABASE_URL:-}" ] && command -v pg_isready >/dev/null \
    && ! pg_isready -q -h 127.0.0.1 -p 5432 && command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi

step "Chromium and chromedriver for the browser tests (Debian's chromium, chromium-driver)"
# tests/e2e/browser.rs drives headless Chromium over WebDriver; without them it fails under
# CI=true and says why it skipped otherwise.
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    if command -v apt-get >/dev/null; then
        SUDO=""
        if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
        { $SUDO apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver; } \
            || echo "could not install chromium and chromium-driver: the browser test will say so"
    else
        echo "no apt-get: install Chromium and chromedriver for the browser test"
    fi
fi

step "cargo test --workspace (the conformance suite on SQLite and PostgreSQL, end-to-end on SQLite)"
cargo test --workspace

step "end-to-end tests again, every registry on a fresh PostgreSQL database"
# The tests that name a backend ran on both above; postgres:: is PostgreSQL-only.
BIRTHRIGHT_E2E_BACKEND=postgres cargo test -p birthright-cli --test e2e -- \
    --skip on_postgresql --skip postgres::

step "fuzz smoke (nightly only)"
scripts/fuzz-smoke.sh

step "reference credential sizes (bytes, characters, QR version)"
cargo test -q -p birthright-core --lib reference_credential_sizes -- --nocapture 2>&1 | grep 'reference credential'

step "Kotlin bindings on the host JVM (and the committed Swift bindings are current)"
scripts/test-bindings.sh

step "release build of the FFI library (small-binary profile; the benchmark reports its size)"
cargo build --release -p birthright-ffi

step "benchmark smoke run (--quick)"
cargo run --profile perf -p birthright-bench -- --quick --json target/bench-quick.json

step "all checks passed"
