#!/usr/bin/env bash
# Prints a markdown table of every built Lambda artifact: the size of target/lambda/<fn>/bootstrap
# and of its deployment zip (zip -9 of the bootstrap alone, which is what Lambda receives).
# Target: <= 6 MB zipped per function (MB = 10^6 bytes). Build first: ./scripts/lambda-build.sh
#
# Usage: ./scripts/bench-sizes.sh [--check] [LAMBDA_DIR]   (default $CARGO_TARGET_DIR/lambda, else target/lambda)
#   --check   exit 1 if a function is over the target (figures are printed either way)
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
dir=${CARGO_TARGET_DIR:-target}/lambda
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) dir=$arg ;;
  esac
done
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" - "$dir" "$check" <<'EOF'
import io
import sys
import zipfile
from pathlib import Path

TARGET = 6_000_000
lambda_dir, check = Path(sys.argv[1]), sys.argv[2] == "1"
boots = sorted(lambda_dir.glob("*/bootstrap"))
if not boots:
    sys.exit(f"no {lambda_dir}/*/bootstrap: run ./scripts/lambda-build.sh first")

ARCH = {0x3E: "x86_64", 0xB7: "arm64"}


def arch(path: Path) -> str:
    head = path.open("rb").read(20)
    if head[:4] != b"\x7fELF":
        return "not ELF"
    return ARCH.get(int.from_bytes(head[18:20], "little"), "other")


def zipped(path: Path) -> int:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o755 << 16  # executable, as Lambda needs
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, path.read_bytes(), compresslevel=9)
    return len(buf.getvalue())


def mb(n: int) -> str:
    return f"{n / 1e6:.2f}"


print("| function | arch | bootstrap (MB) | zipped, deflate -9 (MB) | ratio | <= 6 MB zipped |")
print("|---|---|---:|---:|---:|---|")
over = 0
total_raw = total_zip = 0
for b in boots:
    raw, z = b.stat().st_size, zipped(b)
    total_raw += raw
    total_zip += z
    ok = z <= TARGET
    over += not ok
    print(f"| `{b.parent.name}` | {arch(b)} | {mb(raw)} | {mb(z)} | {z / raw:.0%} | {'yes' if ok else 'NO'} |")
print(f"| **total ({len(boots)})** | | {mb(total_raw)} | {mb(total_zip)} | {total_zip / total_raw:.0%} | |")
print()
print(f"{len(boots) - over} of {len(boots)} within {mb(TARGET)} MB zipped ({lambda_dir}).")
sys.exit(1 if check and over else 0)
EOF
