#!/usr/bin/env bash
# Makes a machine ready for wgcam: npm dependencies, then a WebGPU adapter.
# Idempotent and quiet (with --quiet) when everything is already there.
# On Debian 12 without a GPU driver Dawn accepts, it installs Mesa's lavapipe
# (a Vulkan driver on the CPU) from bookworm-backports: bookworm's own Mesa 22
# is rejected by Dawn ("shaderUniform*ArrayDynamicIndexing required").
set -euo pipefail
cd "$(dirname "$0")/.."
# --quiet: say nothing when all is there; --tests: also what the tests need (a headless
# Chromium for the browser tests, PyTorch and torchvision for the PyTorch comparison, from
# Debian's packages).
quiet=0
tests=0
for arg in "$@"; do
  case "$arg" in
    --quiet) quiet=1 ;;
    --tests) tests=1 ;;
    *) echo "setup: unknown option $arg (use --quiet, --tests)" >&2; exit 2 ;;
  esac
done
say() { [ "$quiet" = 1 ] || echo "setup: $*"; }

# 1. npm dependencies: (re)install when missing or older than the lockfile.
if [ ! -d node_modules/webgpu ] || [ ! -d node_modules/sharp ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (npm ci)"
  # onnxruntime-node (the ONNX tests) would fetch CUDA libraries from nuget; its CPU build is in the package.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
fi

# 2. For the tests: Debian's Chromium (playwright-core drives it; no browser download).
if [ "$tests" = 1 ] && [ -z "${WGCAM_CHROMIUM:-}" ] && ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's chromium for the gallery's browser test (apt-get)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 chromium >/dev/null
  else
    echo "setup: the gallery's browser test needs Chromium: install Debian's chromium package, or set WGCAM_CHROMIUM to a Chromium binary" >&2
  fi
fi

# 2b. For the tests: PyTorch and torchvision from Debian (torchvision's models exported by
# torch.onnx.export, and PyTorch's answers for them: test/torchvision.slow.test.ts).
if [ "$tests" = 1 ] && [ -z "${WGCAM_PYTHON:-}" ] && ! /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's python3-torch and python3-torchvision for the PyTorch comparison test (apt-get)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends python3-torch python3-torchvision >/dev/null
  else
    echo "setup: the PyTorch comparison test needs torch and torchvision: install Debian's python3-torch and python3-torchvision, or set WGCAM_PYTHON to a Python that has them" >&2
  fi
fi

# 3. A WebGPU adapter.
if node scripts/check-adapter.mjs --quiet 2>/dev/null; then
  say "WebGPU adapter OK: $(node scripts/check-adapter.mjs --name 2>/dev/null)"
  exit 0
fi

install_lavapipe() {
  [ "$(uname -s)" = Linux ] || return 1
  [ "$(id -u)" = 0 ] || return 1
  command -v apt-get >/dev/null || return 1
  . /etc/os-release
  local opts=(-y -q -o Dpkg::Use-Pty=0)
  if [ "${VERSION_CODENAME:-}" = bookworm ]; then
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "setup: adding bookworm-backports to apt sources (for Mesa 25)"
      cat > /etc/apt/sources.list.d/wgcam-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    opts+=(-t bookworm-backports)
  fi
  echo "setup: installing Mesa's Vulkan drivers (lavapipe) with apt-get"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install "${opts[@]}" mesa-vulkan-drivers libvulkan1 >/dev/null
}

if install_lavapipe && node scripts/check-adapter.mjs --quiet 2>/dev/null; then
  say "WebGPU adapter OK: $(node scripts/check-adapter.mjs --name 2>/dev/null)"
  exit 0
fi
node scripts/check-adapter.mjs || true
exit 1
