#!/usr/bin/env bash
# The build step of `sam build` for one function (the root Makefile's build-<LogicalId> targets run
# it; SAM sets ARTIFACTS_DIR): builds EVERY function in one cargo run (./scripts/lambda-build.sh,
# i.e. `cargo lambda build --release --<arch>` over the workspace's default members - after the
# first function of a `sam build` this is a no-op), checks that BINARY's bootstrap is an ELF file
# for ARCH and copies it to $ARTIFACTS_DIR/bootstrap.
#
# The build and the copy hold a lock (flock on $CARGO_TARGET_DIR/sam-build.lock), so
# `sam build --parallel` cannot copy a bootstrap that another function's cargo-lambda is rewriting.
#
# Usage: ARTIFACTS_DIR=DIR scripts/sam-build.sh arm64|x86_64 BINARY
set -euo pipefail
arch=${1:-}
bin=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)

fail() {
  # SAM shows a failed make's stderr as the error; the build output itself went to stdout.
  echo "sam-build: $*" >&2
  exit 1
}

case "$arch" in
  arm64) flag=--arm64 machine=183 ;;   # ELF e_machine EM_AARCH64
  x86_64) flag=--x86-64 machine=62 ;;  # EM_X86_64
  *) fail "ARCH must be arm64 or x86_64, got '$arch' (sam build picks scripts/sam/<Architecture>/Makefile, which sets it)" ;;
esac
[ -n "$bin" ] || fail "usage: ARTIFACTS_DIR=DIR $0 arm64|x86_64 BINARY"
[ -n "${ARTIFACTS_DIR:-}" ] || fail "ARTIFACTS_DIR is not set (sam build sets it)"
[ -f "$root/lambdas/$bin/src/main.rs" ] || fail "no function binary '$bin' (lambdas/$bin/src/main.rs)"

cd "$root"
# The target dir as cargo sees it from the workspace root, made absolute for the checks below.
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
export CARGO_TARGET_DIR=$target
mkdir -p "$target"

if command -v flock >/dev/null 2>&1; then
  exec 9>"$target/sam-build.lock"
  flock 9
else
  echo "sam-build: no flock(1) here: do not use sam build --parallel" >&2
fi

echo "sam-build: $bin ($arch): one cargo lambda build of every function, then copy its bootstrap"
# Cargo reports on stderr; SAM streams only make's stdout, so send it there (a cold build is long).
if ! ./scripts/lambda-build.sh "$flag" 2>&1; then
  fail "cargo lambda build $flag failed (output above)"
fi

bootstrap=$target/lambda/$bin/bootstrap
[ -f "$bootstrap" ] || fail "$bootstrap missing after the build"
# ELF magic, then e_machine (2 bytes, little-endian, at offset 18).
magic=$(od -An -c -N 4 "$bootstrap" | tr -d ' ')
read -r lo hi < <(od -An -t u1 -j 18 -N 2 "$bootstrap")
got=$((lo + 256 * hi))
if [ "$magic" != '177ELF' ] || [ "$got" -ne "$machine" ]; then
  fail "$bootstrap is not an $arch ELF (e_machine $got, want $machine): refusing to ship it"
fi
mkdir -p "$ARTIFACTS_DIR"
cp "$bootstrap" "$ARTIFACTS_DIR/bootstrap"
chmod 0755 "$ARTIFACTS_DIR/bootstrap"
echo "sam-build: $bin ($arch) -> $ARTIFACTS_DIR/bootstrap ($(stat -c %s "$bootstrap") bytes)"
