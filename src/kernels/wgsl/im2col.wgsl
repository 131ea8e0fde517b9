// im2col — the windows of a convolution laid out as the columns of a matrix, so that the
// convolution becomes one matrix product per image (conv2d_pointwise over K = Ci*KH*KW rows):
//   col[n, (c*KH + ky)*KW + kx, oy*Wo + ox] = x[n, c, oy*SH - PT + ky*DH, ox*SW - PL + kx*DW]
// (0 outside the input). Layout: x [N,Ci,H,W], col [N, Ci*KH*KW, Ho*Wo]. One invocation per
// element of col, the output pixel fastest (contiguous stores; loads strided by the stride).
struct Params {
  N: u32, Ci: u32, H: u32, W: u32, Ho: u32, Wo: u32, KH: u32, KW: u32,
  SH: u32, SW: u32, PT: u32, PL: u32, DH: u32, DW: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> col: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let P = p.Ho * p.Wo;
  let K = p.Ci * p.KH * p.KW;
  if (i >= p.N * K * P) { return; }
  let px = i % P;
  let k = (i / P) % K;
  let n = i / (P * K);
  let kx = k % p.KW;
  let ky = (k / p.KW) % p.KH;
  let c = k / (p.KW * p.KH);
  let iy = i32((px / p.Wo) * p.SH + ky * p.DH) - i32(p.PT);
  let ix = i32((px % p.Wo) * p.SW + kx * p.DW) - i32(p.PL);
  var v = 0.0;
  if (iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W)) { v = x[((n * p.Ci + c) * p.H + u32(iy)) * p.W + u32(ix)]; }
  col[i] = v;
}
