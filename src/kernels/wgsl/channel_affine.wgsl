// channel_affine — y[n,c,i] = x[n,c,i] * scale[c] + shift[c]: BatchNormalization at inference
// (scale = gamma / sqrt(var + eps), shift = beta - mean * scale) where no conv precedes it.
// Layout: x, y [N,C,HW].
struct Params { len: u32, C: u32, HW: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> shift: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.len) { return; }
  let c = (i / p.HW) % p.C;
  y[i] = x[i] * scale[c] + shift[c];
}
