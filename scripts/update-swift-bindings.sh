#!/usr/bin/env bash
# Regenerates the committed Swift bindings (ios/Sources/BirthrightFFI) from the FFI library.
# scripts/test-bindings.sh fails when they are out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p birthright-ffi --features bindgen
case "$(uname -s)" in Darwin) ext=dylib ;; *) ext=so ;; esac
rm -rf ios/Sources/BirthrightFFI
target/debug/uniffi-bindgen generate "target/debug/libbirthright_ffi.$ext" --language swift --no-format \
  --out-dir ios/Sources/BirthrightFFI >/dev/null
echo "updated ios/Sources/BirthrightFFI"
