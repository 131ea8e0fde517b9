// conv2d_general_grad_input — the gradient of conv2d_general with respect to its input, given
// dz, the gradient at the convolution's output (before the activation: the caller applies its
// derivative first):
//   dx[n,ci,iy,ix] = sum_{co in ci's group, ky, kx} w[co, ci - g*Cig, ky, kx] * dz[n, co, oy, ox]
//   where oy*SH = iy + PT - ky*DH and ox*SW = ix + PL - kx*DW (whole, inside the output).
// Layout: dz [N,Co,Ho,Wo], w [Co,Ci/G,KH,KW], dx [N,Ci,H,W]. One invocation per input element.
struct Params {
  N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, KH: u32,
  KW: u32, SH: u32, SW: u32, PT: u32, PL: u32, DH: u32, DW: u32, G: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N * p.Ci * p.H * p.W) { return; }
  let ix = i % p.W;
  let iy = (i / p.W) % p.H;
  let ci = (i / (p.W * p.H)) % p.Ci;
  let n = i / (p.W * p.H * p.Ci);
  let Cig = p.Ci / p.G;
  let Cog = p.Co / p.G;
  let g = ci / Cig;
  let c = ci - g * Cig;
  var s = 0.0;
  for (var ky = 0u; ky < p.KH; ky++) {
    let ty = i32(iy + p.PT) - i32(ky * p.DH);
    if (ty < 0 || ty % i32(p.SH) != 0) { continue; }
    let oy = u32(ty) / p.SH;
    if (oy >= p.Ho) { continue; }
    for (var kx = 0u; kx < p.KW; kx++) {
      let tx = i32(ix + p.PL) - i32(kx * p.DW);
      if (tx < 0 || tx % i32(p.SW) != 0) { continue; }
      let ox = u32(tx) / p.SW;
      if (ox >= p.Wo) { continue; }
      for (var k = 0u; k < Cog; k++) {
        let co = g * Cog + k;
        s += w[((co * Cig + c) * p.KH + ky) * p.KW + kx] * dz[((n * p.Co + co) * p.Ho + oy) * p.Wo + ox];
      }
    }
  }
  dx[i] = s;
}
