// maxpool2_relu_argmax — 2x2 max-pool (stride 2, floor) of a ReLU's output x, with where
// each maximum came from, so the backward needs neither x nor a separate ReLU pass.
//   y[n,c,i,j]      = max(x[n,c,2i..2i+1, 2j..2j+1])
//   argmax[n,c,i,j] = first maximum in row-major order as 2*dy + dx (0..3), or 4 where the
//                     maximum is <= 0 (the ReLU passes no gradient there)
// Layout: x NCHW [N,C,H,W] (flattened as [NC,H,W]); y, argmax [N,C,H/2,W/2].
struct Params { NC: u32, H: u32, W: u32, Ho: u32, Wo: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.NC * p.Ho * p.Wo) { return; }
  let j = o % p.Wo;
  let i = (o / p.Wo) % p.Ho;
  let nc = o / (p.Wo * p.Ho);
  let base = (nc * p.H + 2u * i) * p.W + 2u * j;
  let v = array<f32, 4>(x[base], x[base + 1u], x[base + p.W], x[base + p.W + 1u]);
  var best = 0u;
  for (var k = 1u; k < 4u; k++) { if (v[k] > v[best]) { best = k; } }
  y[o] = v[best];
  argmax[o] = select(4u, best, v[best] > 0.0);
}
