// subsample2d — every S-th row and column of NCHW maps: y[nc, r, c] = x[nc, r*S, c*S].
// (A strided 3x3 convolution computed at stride 1 by the fast valid kernels, then kept at the stride.)
// Layout: x [NC,H,W], y [NC,Ho,Wo]. One invocation per output element.
struct Params { NC: u32, H: u32, W: u32, Ho: u32, Wo: u32, S: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.NC * p.Ho * p.Wo) { return; }
  let c = i % p.Wo;
  let r = (i / p.Wo) % p.Ho;
  let nc = i / (p.Wo * p.Ho);
  y[i] = x[(nc * p.H + r * p.S) * p.W + c * p.S];
}
