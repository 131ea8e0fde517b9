// conv2d_general — any 2-D convolution, as ONNX Conv defines it, with its bias and activation:
//   y[n,co,oy,ox] = act(b[co] + sum_{ci in co's group, ky, kx}
//                       w[co, ci - g*Cig, ky, kx] * x[n, ci, oy*SH - PT + ky*DH, ox*SW - PL + kx*DW])
// where g = co / Cog, Cig = Ci / G input and Cog = Co / G output channels per group; taps that
// fall outside the input read 0 (zero padding). act: 0 none, 1 relu, 2 clip(lo, hi).
// Layout: x [N,Ci,H,W], w [Co,Ci/G,KH,KW], b [Co], y [N,Co,Ho,Wo] (NCHW). One invocation per
// output element, ox fastest, so neighbouring invocations read neighbouring input columns.
struct Params {
  N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, KH: u32,
  KW: u32, SH: u32, SW: u32, PT: u32, PL: u32, DH: u32, DW: u32, G: u32,
  act: u32, lo: f32, hi: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N * p.Co * p.Ho * p.Wo) { return; }
  let ox = i % p.Wo;
  let oy = (i / p.Wo) % p.Ho;
  let co = (i / (p.Wo * p.Ho)) % p.Co;
  let n = i / (p.Wo * p.Ho * p.Co);
  let Cig = p.Ci / p.G;
  let ci0 = (co / (p.Co / p.G)) * Cig;
  // Signed origin of the window: padding makes it negative at the top and left edges.
  let y0 = i32(oy * p.SH) - i32(p.PT);
  let x0 = i32(ox * p.SW) - i32(p.PL);
  var s = b[co];
  for (var c = 0u; c < Cig; c++) {
    let xPlane = (n * p.Ci + ci0 + c) * p.H * p.W;
    let wPlane = (co * Cig + c) * p.KH * p.KW;
    for (var ky = 0u; ky < p.KH; ky++) {
      let iy = y0 + i32(ky * p.DH);
      if (iy < 0 || iy >= i32(p.H)) { continue; }
      for (var kx = 0u; kx < p.KW; kx++) {
        let ix = x0 + i32(kx * p.DW);
        if (ix < 0 || ix >= i32(p.W)) { continue; }
        s += w[wPlane + ky * p.KW + kx] * x[xPlane + u32(iy) * p.W + u32(ix)];
      }
    }
  }
  if (p.act == 1u) { s = max(s, 0.0); } else if (p.act == 2u) { s = clamp(s, p.lo, p.hi); }
  y[i] = s;
}
