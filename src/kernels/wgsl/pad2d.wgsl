// pad2d — zero padding of NCHW maps: y[nc, r, c] = x[nc, r - PT, c - PL] inside the input, 0 around.
// Layout: x [NC,H,W], y [NC,Hp,Wp]. One invocation per output element.
struct Params { NC: u32, H: u32, W: u32, Hp: u32, Wp: u32, PT: u32, PL: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.NC * p.Hp * p.Wp) { return; }
  let c = i % p.Wp;
  let r = (i / p.Wp) % p.Hp;
  let nc = i / (p.Wp * p.Hp);
  var v = 0.0;
  if (r >= p.PT && r < p.PT + p.H && c >= p.PL && c < p.PL + p.W) { v = x[(nc * p.H + r - p.PT) * p.W + c - p.PL]; }
  y[i] = v;
}
