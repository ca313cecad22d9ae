#!/usr/bin/env bash
# GPU check of the batch worker on the device machine (H100/H200, no internet, no Node.js there).
#
#   here:  batch/gpu-check.sh prepare     # bundles the worker, carries node + onnxruntime + Vulkan loaders
#   there: device run, carry [".gpu", ".gl"], command "bash batch/gpu-check.sh run", timeout_s ~ 420
#
# prepare puts into .gpu/ (ignored through .git/info/exclude, never committed):
#   node.xz            this machine's node binary (x86-64), xz-compressed
#   app/               esbuild bundles of batch/gpu/gpu-check.ts and batch/threads/{prepare,infer}-worker.ts (ESM, onnxruntime external)
#   app/node_modules/  onnxruntime-node (+ onnxruntime-common), its libonnxruntime.so xz-compressed
# and the Vulkan loader .debs into .gl/ (WebGPU on NVIDIA runs through Vulkan; see the device notes).
# run generates a ResNet-50 (v1, dynamic batch) and 0.3 MP JPEGs there (python3 + Pillow are installed),
# measures the GPU-only ceiling and the worker end to end with --ep webgpu, and prints both.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"

prepare() {
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude
  grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >> .git/info/exclude
  rm -rf .gpu && mkdir -p .gpu/app/node_modules
  [ "$(uname -m)" = x86_64 ] || { echo "prepare on x86-64 (the device is x86-64)" >&2; exit 1; }
  xz -T0 -6 -c "$(command -v node)" > .gpu/node.xz
  npx esbuild batch/gpu/gpu-check.ts batch/threads/prepare-worker.ts batch/threads/infer-worker.ts --bundle --entry-names=[name] --platform=node --format=esm --target=node20 \
    --external:onnxruntime-node --outdir=.gpu/app --log-level=warning \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
  echo '{"type":"module"}' > .gpu/app/package.json
  # The bundles require onnxruntime-node at run time, resolved from their own folder.
  cp -r node_modules/onnxruntime-node node_modules/onnxruntime-common .gpu/app/node_modules/
  rm -rf .gpu/app/node_modules/onnxruntime-node/bin/napi-v6/{darwin,win32} .gpu/app/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64
  xz -T0 -6 .gpu/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update >/dev/null && (cd .gl && apt-get $o download libvulkan1 >/dev/null)
  du -sh .gpu .gl
}

run() {
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$VK_DRIVER_FILES" ] || unset VK_DRIVER_FILES
  xz -dc .gpu/node.xz > /tmp/node && chmod +x /tmp/node
  lib=.gpu/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
  [ -f "$lib" ] || xz -d "$lib.xz"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  mkdir -p /tmp/gpu-check/img03
  python3 - <<'PY'
import os, random
from concurrent.futures import ProcessPoolExecutor
from PIL import Image, ImageFilter
def make(i):
    r = random.Random(i)
    im = Image.effect_noise((640, 480), 40 + i % 30).convert('RGB')
    im = Image.blend(im, Image.new('RGB', (640, 480), tuple(r.randrange(256) for _ in range(3))), 0.6).filter(ImageFilter.SMOOTH)
    im.save(f'/tmp/gpu-check/img03/{i:05d}.jpg', quality=90)
with ProcessPoolExecutor(16) as ex: list(ex.map(make, range(int(os.environ.get('N_IMAGES', '4000')))))
PY
  out="${OUT:-/tmp}"
  set -o pipefail
  /tmp/node .gpu/app/gpu-check.js --images /tmp/gpu-check/img03 --ep "${EP:-webgpu}" --batch "${BATCHES:-16,32,64}" 2>&1 | tee "$out/gpu-check.log"
}

case "$mode" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
