#!/usr/bin/env bash
# Regenerates the FFM bindings of native/include/cm_torch.h with jextract (commit 0b89a46, whose output compiles
# at release 22). jextract is found on PATH or as $JEXTRACT_HOME/bin/jextract. The generated sources are
# committed and never edited by hand; the header's SHA-256 is recorded beside them so a test can tell when
# the header changed without regeneration.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
header="$root/native/include/cm_torch.h"
pkg=dev.cm4j.bindings.ffi
out="$here/src/main/java"
pkgdir="$out/${pkg//.//}"
if [ -n "${JEXTRACT_HOME:-}" ]; then jx="$JEXTRACT_HOME/bin/jextract"; else jx=$(command -v jextract || true); fi
[ -n "$jx" ] && [ -x "$jx" ] || { echo "jextract not found: put it on PATH or set JEXTRACT_HOME" >&2; exit 2; }
rm -rf "$pkgdir"
# Allow-list: exactly the functions, typedefs, constants and record structs declared in cm_torch.h (nothing from
# libc headers). The handle structs (cm_*_s) are only declared, never defined, so they are left out.
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
"$jx" --dump-includes "$tmp" --include-dir "$root/native/include" "$header" >/dev/null
grep -E '^--include-(function|typedef|constant|struct) .*# header: .*/cm_torch\.h$' "$tmp" \
  | awk '!($1 == "--include-struct" && $2 ~ /_s$/) {print $1, $2}' | sort > "$here/jextract-includes.txt"
# No --library: the symbols resolve through the loader lookup after dev.cm4j.bindings.NativeLibrary has
# System.load()ed the library (see NativeLibrary).
"$jx" --output "$out" --target-package "$pkg" --header-class-name CmTorch \
  @"$here/jextract-includes.txt" --include-dir "$root/native/include" "$header"
sha256sum "$header" | cut -d' ' -f1 > "$here/src/main/resources/dev/cm4j/bindings/cm_torch.h.sha256"
echo "regenerated $(find "$pkgdir" -name '*.java' | wc -l) files in $pkgdir"
