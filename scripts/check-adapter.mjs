// Exits 0 when Dawn finds a WebGPU adapter; otherwise explains what to install.
// Plain JavaScript so that setup can run it before anything is compiled.
import { create, globals } from 'webgpu';

const mode = process.argv[2];
Object.assign(globalThis, globals);
// Dawn frees its instance when the create() result is collected: keep it referenced.
const gpu = create([]);
let adapter = null;
try {
  adapter = await gpu.requestAdapter();
} catch {
  adapter = null;
}
if (adapter) {
  if (mode === '--name') {
    const info = adapter.info;
    console.log([info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unnamed adapter');
  }
  process.exit(0);
}
if (mode !== '--quiet') {
  console.error(
    'wgcam: no WebGPU adapter found. Dawn needs a Vulkan driver: on Debian 12 run ' +
      "'apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1' as root " +
      '(or npm run setup, which does it), on Ubuntu 24.04+ install mesa-vulkan-drivers, ' +
      'or install your GPU vendor\'s Vulkan driver.',
  );
}
process.exit(1);
