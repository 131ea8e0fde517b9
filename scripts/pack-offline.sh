#!/usr/bin/env bash
# Packs `npm run bench` for a Linux x86-64 machine with a GPU but no network and maybe no
# Node.js (a rented or lent GPU box): one archive with this machine's node binary, the
# bench bundled by esbuild (TensorFlow.js included, for --vs tfjs), the WGSL kernels,
# the native modules (Dawn's dawn.node, sharp with libvips) and Debian's Vulkan loader.
# On the GPU machine: `bash scripts/offline-bench.sh ARCHIVE [bench arguments]`.
#   usage: bash scripts/pack-offline.sh [OUT_DIR]   (default .offline, git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.offline}
[ "$(uname -m)" = x86_64 ] || { echo "pack-offline: builds for x86-64 only, this is $(uname -m)" >&2; exit 1; }
[ -d node_modules/@tensorflow/tfjs ] || { echo "pack-offline: run 'npm ci' first (devDependencies are bundled)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
app=$stage/app

# The bundle sits at app/bench/ so that the runtime's '../kernels/wgsl/' resolves to app/kernels/wgsl/.
# Native modules stay outside it, and benchmark.js (it evaluates code against its own global);
# CommonJS code inside an ES module bundle needs require(), __filename and __dirname.
node_modules/.bin/esbuild bench/run.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile="$app/bench/run.mjs" --external:webgpu --external:sharp --external:benchmark --log-level=warning \
  --banner:js="import { createRequire as __wgcamRequire } from 'node:module'; import { fileURLToPath as __wgcamPath } from 'node:url'; const require = __wgcamRequire(import.meta.url); const __filename = __wgcamPath(import.meta.url); const __dirname = __filename.replace(/[\\/][^\\/]*$/, '');"
mkdir -p "$app/kernels" "$app/node_modules/webgpu/dist" "$app/node_modules/@img" "$app/node_modules/@tensorflow/tfjs-backend-wasm/dist" "$stage/vulkan"
cp -r src/kernels/wgsl "$app/kernels/"
cp bench/torch_peer.py "$app/bench/"  # --vs torch, on a machine whose Python has PyTorch
cp node_modules/webgpu/{index.js,package.json} "$app/node_modules/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$app/node_modules/webgpu/dist/"
cp -r node_modules/{sharp,detect-libc,semver,benchmark,lodash,platform} "$app/node_modules/"
cp -r node_modules/@img/{colour,sharp-linux-x64,sharp-libvips-linux-x64} "$app/node_modules/@img/"
# tfjs-backend-wasm finds its .wasm files next to its package.json.
cp node_modules/@tensorflow/tfjs-backend-wasm/package.json "$app/node_modules/@tensorflow/tfjs-backend-wasm/"
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$app/node_modules/@tensorflow/tfjs-backend-wasm/dist/"
cp "$(command -v node)" "$stage/node"
# The Vulkan loader, and what NVIDIA's Vulkan driver (libGLX_nvidia) loads, for images that ship
# the driver without them; offline-bench.sh uses only the libraries the machine lacks.
(cd "$stage/vulkan" && apt-get download -q libvulkan1 libglvnd0 libglx0 libegl1 libx11-6 libxext6 libxcb1 libxau6 libxdmcp6 2>&1 | grep -v '^W:' >/dev/null || true)
ls "$stage"/vulkan/libvulkan1_*.deb >/dev/null

mkdir -p "$out"
tar -C "$stage" -cf - app node vulkan | xz -T0 -6 > "$out/wgcam-bench.tar.xz.tmp"
mv "$out/wgcam-bench.tar.xz.tmp" "$out/wgcam-bench.tar.xz"
cp scripts/offline-bench.sh "$out/"
echo "pack-offline: $out/wgcam-bench.tar.xz ($(du -h "$out/wgcam-bench.tar.xz" | cut -f1)), node $(node --version)"
