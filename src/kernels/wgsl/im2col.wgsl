// im2col — the windows of a convolution laid out as the columns of a matrix, so that the
// convolution becomes one matrix product per image (conv2d_pointwise or conv2d_gemm_subgroup
// over K = Ci*KH*KW rows):
//   col[n, (c*KH + ky)*KW + kx, oy*Wo + ox] = x[n0 + n, c, oy*SH - PT + ky*DH, ox*SW - PL + kx*DW]
// (0 outside the input). Layout: x [*,Ci,H,W]; col [N, Ci*KH*KW, PS], rows of PS >= Ho*Wo
// floats, the cells past Ho*Wo zero (the subgroup product reads rows as vec4s); images n0 on
// (a batch whose columns exceed one binding runs in chunks).
// One invocation per output pixel and input channel, writing its KH*KW rows: the pixel's
// row and column are worked out once for all the taps (integer division is a per-lane scalar
// loop on a CPU driver: one invocation per element of col cost 2.3x as much on the 7x7 stem).
// Grid: x = pixels (WG a group), y = input channel, z = image of the chunk.
struct Params {
  N: u32, Ci: u32, H: u32, W: u32, Ho: u32, Wo: u32, KH: u32, KW: u32,
  SH: u32, SW: u32, PT: u32, PL: u32, DH: u32, DW: u32, PS: u32, n0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> col: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let px = gid.x;
  let c = gid.y;
  let n = gid.z;
  if (px >= p.PS) { return; }
  let inside = px < p.Ho * p.Wo;
  let iy0 = i32((px / p.Wo) * p.SH) - i32(p.PT);
  let ix0 = i32((px % p.Wo) * p.SW) - i32(p.PL);
  let plane = (p.n0 + n) * p.Ci + c;
  var row = (n * p.Ci + c) * p.KH * p.KW;
  for (var ky = 0u; ky < p.KH; ky++) {
    let iy = iy0 + i32(ky * p.DH);
    let rowInside = inside && iy >= 0 && iy < i32(p.H);
    let inRow = (plane * p.H + u32(clamp(iy, 0, i32(p.H) - 1))) * p.W;
    for (var kx = 0u; kx < p.KW; kx++) {
      let ix = ix0 + i32(kx * p.DW);
      var v = 0.0;
      if (rowInside && ix >= 0 && ix < i32(p.W)) { v = x[inRow + u32(ix)]; }
      col[row * p.PS + px] = v;
      row++;
    }
  }
}
