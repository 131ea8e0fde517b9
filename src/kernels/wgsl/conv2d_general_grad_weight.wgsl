// conv2d_general_grad_weight — the gradient of conv2d_general with respect to its weights:
//   dw[co,c,ky,kx] = sum_{n,oy,ox} dz[n,co,oy,ox] * x[n, g*Cig + c, oy*SH - PT + ky*DH, ox*SW - PL + kx*DW]
// (taps outside the input read 0), g = co / Cog. The bias's gradient is channel_sum of dz.
// Layout: x [N,Ci,H,W], dz [N,Co,Ho,Wo], dw [Co,Ci/G,KH,KW]. One invocation per weight.
struct Params {
  N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, KH: u32,
  KW: u32, SH: u32, SW: u32, PT: u32, PL: u32, DH: u32, DW: u32, G: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dz: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let Cig = p.Ci / p.G;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.Co * Cig * p.KH * p.KW) { return; }
  let kx = i % p.KW;
  let ky = (i / p.KW) % p.KH;
  let c = (i / (p.KW * p.KH)) % Cig;
  let co = i / (p.KW * p.KH * Cig);
  let ci = (co / (p.Co / p.G)) * Cig + c;
  var s = 0.0;
  for (var n = 0u; n < p.N; n++) {
    for (var oy = 0u; oy < p.Ho; oy++) {
      let iy = i32(oy * p.SH + ky * p.DH) - i32(p.PT);
      if (iy < 0 || iy >= i32(p.H)) { continue; }
      for (var ox = 0u; ox < p.Wo; ox++) {
        let ix = i32(ox * p.SW + kx * p.DW) - i32(p.PL);
        if (ix < 0 || ix >= i32(p.W)) { continue; }
        s += dz[((n * p.Co + co) * p.Ho + oy) * p.Wo + ox] * x[((n * p.Ci + ci) * p.H + u32(iy)) * p.W + u32(ix)];
      }
    }
  }
  dw[i] = s;
}
