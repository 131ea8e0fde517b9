import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const g = create([]);
const adapter = await g.requestAdapter();
const device = await adapter!.requestDevice();
const ACC = Number(process.env.ACC ?? 8);
const code = `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  var a: array<f32, ${ACC}>;
  ${Array.from({ length: ACC }, (_, i) => `var a${i} = f32(id.x) * ${i + 1}.0;`).join('\n')}
  let m = 0.9999 + f32(id.x & 1u) * 1e-7;
  for (var i = 0u; i < 4096u; i++) {
    ${Array.from({ length: ACC }, (_, i) => `a${i} = a${i} * m + 0.5;`).join('\n')}
  }
  out[id.x] = ${Array.from({ length: ACC }, (_, i) => `a${i}`).join(' + ')};
}`;
const mod = device.createShaderModule({ code });
const pipe = device.createComputePipeline({ layout: 'auto', compute: { module: mod, entryPoint: 'main' } });
const inv = 64 * 256;
const buf = device.createBuffer({ size: inv * 4, usage: GPUBufferUsage.STORAGE });
const bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
async function run() {
  const enc = device.createCommandEncoder(); const p = enc.beginComputePass(); p.setPipeline(pipe); p.setBindGroup(0, bg); p.dispatchWorkgroups(256); p.end();
  device.queue.submit([enc.finish()]); await device.queue.onSubmittedWorkDone();
}
await run();
const ts: number[] = [];
for (let i = 0; i < 5; i++) { const t = performance.now(); await run(); ts.push(performance.now() - t); }
ts.sort((a, b) => a - b);
const flops = inv * 4096 * ACC * 2;
console.log(`ACC=${ACC} ${ts[2].toFixed(1)} ms ${(flops / ts[2] / 1e6).toFixed(1)} GFLOP/s`);
process.exit(0);
