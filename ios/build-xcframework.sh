#!/usr/bin/env bash
# Builds build/BirthrightFFI.xcframework: the Rust core for iOS devices and simulators (release,
# small-binary profile), with the generated C header and module map, and refreshes the Swift
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
cp ios/Sources/BirthrightFFI/birthright_ffiFFI.h "$out/headers/"
cp ios/Sources/BirthrightFFI/birthright_ffiFFI.modulemap "$out/headers/module.modulemap"
lipo -create target/aarch64-apple-ios-sim/release/libbirthright_ffi.a \
  target/x86_64-apple-ios/release/libbirthright_ffi.a -output "$out/sim/libbirthright_ffi.a"
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/libbirthright_ffi.a -headers "$out/headers" \
  -library "$out/sim/libbirthright_ffi.a" -headers "$out/headers" \
  -output "$out/BirthrightFFI.xcframework"
echo "built $out/BirthrightFFI.xcframework"
