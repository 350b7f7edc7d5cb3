#!/usr/bin/env bash
# Host tests of the UniFFI bindings: builds the FFI library, generates Kotlin and Swift, checks
# the committed Swift bindings are current, compiles the Kotlin tests with kotlinc-jvm against
# JNA, and runs them on the JVM against a real registry process on loopback. Installs the
# Kotlin compiler (npm) and JNA (apt) when missing. See shared/BINDINGS-ON-HOST.md.
set -euo pipefail
cd "$(dirname "$0")/.."

KOTLIN_VERSION=2.4.20
KOTLIN_SHA256=c23dab400d7ce5ea8b6c909947c0ca5454189e4bb1108695b5f464500e5e950f
CACHE=.cache
KOTLIN_HOME="$CACHE/kotlin-$KOTLIN_VERSION"
JNA=/usr/share/java/jna.jar
OUT=target/bindings

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -f "$JNA" ]; then
  echo "installing JNA (libjna-java)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjna-java >/dev/null
fi
command -v npm >/dev/null || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
command -v java >/dev/null || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >/dev/null; }

if [ ! -x "$KOTLIN_HOME/bin/kotlinc" ]; then
  echo "installing kotlinc $KOTLIN_VERSION (npm package kotlin-compiler)"
  mkdir -p "$CACHE" "$KOTLIN_HOME"
  (cd "$CACHE" && npm pack "kotlin-compiler@$KOTLIN_VERSION" --silent >/dev/null)
  echo "$KOTLIN_SHA256  $CACHE/kotlin-compiler-$KOTLIN_VERSION.tgz" | sha256sum -c --quiet
  tar xzf "$CACHE/kotlin-compiler-$KOTLIN_VERSION.tgz" -C "$KOTLIN_HOME" --strip-components=1
  chmod +x "$KOTLIN_HOME"/bin/*
fi

echo "building the FFI library, uniffi-bindgen and the birthright CLI (debug)"
cargo build -q -p birthright-ffi --features bindgen
cargo build -q -p birthright-cli
LIB=target/debug/libbirthright_ffi.so

rm -rf "$OUT"
target/debug/uniffi-bindgen generate "$LIB" --language kotlin --no-format --out-dir "$OUT/kotlin" >/dev/null
target/debug/uniffi-bindgen generate "$LIB" --language swift --no-format --out-dir "$OUT/swift" >/dev/null

echo "checking the committed Swift bindings are current"
if ! diff -r "$OUT/swift" ios/Sources/BirthrightFFI >/dev/null; then
  diff -r "$OUT/swift" ios/Sources/BirthrightFFI | head -20
  echo "ios/Sources/BirthrightFFI is out of date: run scripts/update-swift-bindings.sh" >&2
  exit 1
fi
# The header uses clang nullability qualifiers; gcc checks the rest of its syntax.
for header in "$OUT"/swift/*FFI.h; do
  gcc -fsyntax-only -w -x c -D_Nonnull= -D_Nullable= -D_Null_unspecified= "$header"
done

echo "starting a registry on loopback"
WORK=$(mktemp -d)
REGISTRY_PID=""
cleanup() { [ -n "$REGISTRY_PID" ] && kill "$REGISTRY_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
target/debug/birthright registry init --data "$WORK/registry" --origin registry.kotlin-test/births >/dev/null
mkfifo "$WORK/ready"
target/debug/birthright registry serve --data "$WORK/registry" --listen 127.0.0.1:0 >"$WORK/ready" &
REGISTRY_PID=$!
read -r READY <"$WORK/ready"
export BIRTHRIGHT_REGISTRY_URL="${READY#listening on }"
export BIRTHRIGHT_ENROL_TOKEN=$(target/debug/birthright registry enrol-token --data "$WORK/registry" --worker kotlin-worker --region UA-46)
export BIRTHRIGHT_SPARE_TOKEN=$(target/debug/birthright registry enrol-token --data "$WORK/registry" --worker kotlin-worker --region UA-46 2>/dev/null)
export BIRTHRIGHT_TRUST_BUNDLE="$WORK/registry/trust.json"
# The QR tests read the codes they draw back with the core's image reader, through the CLI.
export BIRTHRIGHT_CLI="$PWD/target/debug/birthright"

echo "compiling the Kotlin bindings and tests"
# Two generated files: uniffi.birthright_ffi (the FFI crate's objects and types) and
# uniffi.birthright_core (the core's own types: the form, validation problems, statuses).
# android/.../CreateOnce.kt is plain Kotlin (the lock KeystoreStorageKey uses): tested here too.
"$KOTLIN_HOME/bin/kotlinc" "$OUT"/kotlin/uniffi/*/*.kt bindings/tests/kotlin/*.kt \
  android/src/main/kotlin/org/birthright/CreateOnce.kt \
  -cp "$JNA" -d "$OUT/kotlin-tests.jar" -nowarn 2>&1 | grep -v '^warning' || true
[ -f "$OUT/kotlin-tests.jar" ] || { echo "kotlinc failed" >&2; exit 1; }

echo "running the Kotlin tests on the JVM"
java -Djna.library.path=target/debug \
  -cp "$OUT/kotlin-tests.jar:$JNA:$KOTLIN_HOME/lib/kotlin-stdlib.jar" BirthrightTestKt
