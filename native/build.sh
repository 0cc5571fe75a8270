#!/usr/bin/env bash
# Builds the cm_torch shared library with CMake against the resolved libtorch and installs it, with a
# native.properties naming the cm4j and libtorch versions, into DEST (default: native/build/out).
# Usage: native/build.sh [DEST] [CM4J_VERSION]. Incremental: the CMake build directory is kept.
# The test-only device library (libcm_testdevice.so, native/testdevice) is installed into CM4J_TEST_DEVICE_DEST
# (default: bindings/target/test-device), where cm-core's tests find it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
dest="${1:-$here/build/out}"
version="${2:-dev}"
lt=$("$root/scripts/find-libtorch.sh")
echo "[native] libtorch: $lt" >&2
bdir="${CM4J_NATIVE_BUILD:-$here/build}/cmake-$(echo -n "$lt" | sha256sum | cut -c1-12)"
if [ ! -f "$bdir/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$lt" >&2
fi
cmake --build "$bdir" -j"$(nproc)" --target cm_torch cm_torch_selftest >&2
# The test-only device (native/testdevice) uses libtorch's PrivateUse1 extension API, which changes between
# libtorch versions: a failure to build it is reported but does not stop cm_torch's build (tests that need it then
# fail, naming the missing library).
testdevice=0
if grep -q '^CM_WITH_TEST_DEVICE:BOOL=ON' "$bdir/CMakeCache.txt"; then
  if cmake --build "$bdir" -j"$(nproc)" --target cm_testdevice >&2; then testdevice=1
  else echo "[native] WARNING: the test device library (native/testdevice) did not build against $lt" >&2; fi
fi
"$bdir/cm_torch_selftest" >&2
# libtorch's version from its headers (the same files NativeLibrary reads at load time).
torch_version=""
for vh in "$lt/include/torch/headeronly/version.h" "$lt/include/torch/csrc/api/include/torch/version.h"; do
  [ -f "$vh" ] || continue
  v=$(awk '/#define TORCH_VERSION_(MAJOR|MINOR|PATCH) /{printf "%s%s", sep, $3; sep="."}' "$vh")
  [ -n "$v" ] && { torch_version=$v; break; }
done
[ -n "$torch_version" ] || { echo "[native] cannot read the libtorch version under $lt/include" >&2; exit 2; }
mkdir -p "$dest"
cp "$bdir/libcm_torch.so" "$dest/libcm_torch.so.tmp" && mv -f "$dest/libcm_torch.so.tmp" "$dest/libcm_torch.so"
lib_sha=$(sha256sum "$dest/libcm_torch.so" | cut -c1-16)
cat > "$dest/native.properties.tmp" <<PROPS
# Written by native/build.sh
cm4j.version=$version
libtorch.version=$torch_version
libtorch.path=$lt
library=libcm_torch.so
library.sha256=$lib_sha
platform=linux-x86_64
PROPS
mv -f "$dest/native.properties.tmp" "$dest/native.properties"
echo "[native] installed libcm_torch.so (libtorch $torch_version) into $dest" >&2
# The test-only device library goes beside the tests, never into DEST (DEST is packaged into the bindings jar).
if [ "$testdevice" = 1 ]; then
  tdest="${CM4J_TEST_DEVICE_DEST:-$root/bindings/target/test-device}"
  mkdir -p "$tdest"
  cp "$bdir/libcm_testdevice.so" "$tdest/libcm_testdevice.so.tmp" && mv -f "$tdest/libcm_testdevice.so.tmp" "$tdest/libcm_testdevice.so"
  echo "[native] installed the test device libcm_testdevice.so into $tdest" >&2
fi
