#!/usr/bin/env bash
# Runs the bench packed by scripts/pack-offline.sh on a GPU machine with no network.
# Uses the machine's own Node.js (20 or later) and Vulkan loader when it has them, the
# packed ones otherwise; points Vulkan at NVIDIA's driver where only the container's
# driver folder holds its manifest. Extracts once into $WGCAM_OFFLINE_DIR.
#   usage: bash offline-bench.sh ARCHIVE [npm run bench arguments, e.g. --quick, --vs tfjs]
set -euo pipefail
archive=${1:?usage: offline-bench.sh ARCHIVE [bench arguments]}
shift
dir=${WGCAM_OFFLINE_DIR:-/tmp/wgcam-offline}
if [ ! -f "$dir/app/bench/run.mjs" ]; then
  mkdir -p "$dir"
  if command -v xz >/dev/null; then
    xz -dc "$archive" | tar -C "$dir" -xf -
  else # python3's lzma where xz-utils is missing
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$archive" "$dir"
  fi
fi

node=node
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  node=$dir/node
fi
# Packed libraries fill in only what the machine lacks (a newer system copy always wins).
known=$({ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | awk '{print $1}')
lib=$dir/vulkan/root/usr/lib/x86_64-linux-gnu
if [ ! -d "$lib" ]; then
  if command -v dpkg-deb >/dev/null; then
    for deb in "$dir"/vulkan/*.deb; do dpkg-deb -x "$deb" "$dir/vulkan/root"; done
  else
    echo "offline-bench: no dpkg-deb here to unpack the packed libraries; using the system's only" >&2
  fi
fi
missing=0
for so in "$lib"/*.so.*; do # sonames are the links; a link the system already has goes
  [ -L "$so" ] || continue
  if grep -qxF "$(basename "$so")" <<<"$known"; then rm -f "$so"; else missing=1; fi
done
if [ "$missing" = 1 ]; then export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ] && ! compgen -G '/usr/share/vulkan/icd.d/nvidia*' >/dev/null && ! compgen -G '/etc/vulkan/icd.d/nvidia*' >/dev/null; then
  export VK_DRIVER_FILES=$nvidia_icd
fi
echo "offline-bench: node $("$node" --version)$([ "$missing" = 1 ] && echo ", packed libraries: $(cd "$lib" && find . -type l -printf "%f ")")${VK_DRIVER_FILES:+, VK_DRIVER_FILES=$VK_DRIVER_FILES}"
exec "$node" "$dir/app/bench/run.mjs" "$@"
