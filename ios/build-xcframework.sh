#!/usr/bin/env bash
# Builds build/BirthrightFFI.xcframework: the Rust core for iOS devices and simulators (release,
# small-binary profile), with the generated C headers and module maps, and refreshes the Swift
# bindings. Needs macOS with Xcode and
# `rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios`.
set -euo pipefail
cd "$(dirname "$0")/.."
for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
  cargo build --release -p birthright-ffi --target "$target"
done
scripts/update-swift-bindings.sh
out=ios/build
rm -rf "$out" && mkdir -p "$out/headers" "$out/sim"
# One C module per crate that exports to Swift (birthright_ffi, and birthright_core for the
# core's own types), all in the one library: every header, and one module map naming them all.
cp ios/Sources/BirthrightFFI/*FFI.h "$out/headers/"
cat ios/Sources/BirthrightFFI/*FFI.modulemap >"$out/headers/module.modulemap"
lipo -create target/aarch64-apple-ios-sim/release/libbirthright_ffi.a \
  target/x86_64-apple-ios/release/libbirthright_ffi.a -output "$out/sim/libbirthright_ffi.a"
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/libbirthright_ffi.a -headers "$out/headers" \
  -library "$out/sim/libbirthright_ffi.a" -headers "$out/headers" \
  -output "$out/BirthrightFFI.xcframework"
echo "built $out/BirthrightFFI.xcframework"
