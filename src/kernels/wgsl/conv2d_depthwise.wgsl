// conv2d_depthwise — a depthwise convolution (one filter per channel: G = Ci = Co) with bias
// and activation, as conv2d_general computes it, for 3x3 windows (any stride and padding):
//   y[n,c,oy,ox] = act(b[c] + sum_{ky,kx} w[c,ky,kx] * x[n, c, oy*S - PT + ky, ox*S - PL + kx])
// Memory-bound: neighbouring invocations take neighbouring output columns (so their loads of a
// row are contiguous), each makes 4 output rows of its column from the 4*S+2 input rows they
// need, the 9 weights in registers; no division per element.
// Layout: x [N,C,H,W], w [C,1,3,3], b [C], y [N,C,Ho,Wo]. Dispatch: x = columns / 64,
// y = row groups of 4, z = N * C.
struct Params { C: u32, H: u32, W: u32, Ho: u32, Wo: u32, S: u32, PT: u32, PL: u32, act: u32, lo: f32, hi: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let ox = gid.x;
  let oy0 = gid.y * 4u;
  let nc = gid.z;
  if (ox >= p.Wo) { return; }
  let c = nc % p.C;
  var k: array<f32, 9>;
  for (var t = 0u; t < 9u; t++) { k[t] = w[c * 9u + t]; }
  let plane = nc * p.H * p.W;
  // The three input columns of this output column, and whether each lies inside the input.
  let ix0 = i32(ox * p.S) - i32(p.PL);
  var acc = vec4f(b[c]);
  let rows = 3u * p.S + 3u; // input rows the 4 outputs read: (4 - 1) * S + 3
  for (var r = 0u; r < rows; r++) {
    let iy = i32(oy0 * p.S + r) - i32(p.PT);
    if (iy < 0 || iy >= i32(p.H)) { continue; }
    let row = plane + u32(iy) * p.W;
    var v: vec3f;
    for (var kx = 0u; kx < 3u; kx++) {
      let ix = ix0 + i32(kx);
      v[kx] = select(0.0, x[row + u32(clamp(ix, 0, i32(p.W) - 1))], ix >= 0 && ix < i32(p.W));
    }
    // Input row r is row ky = r - j*S of output row j.
    for (var j = 0u; j < 4u; j++) {
      let ky = i32(r) - i32(j * p.S);
      if (ky >= 0 && ky < 3) { acc[j] += dot(v, vec3f(k[u32(ky) * 3u], k[u32(ky) * 3u + 1u], k[u32(ky) * 3u + 2u])); }
    }
  }
  if (p.act == 1u) { acc = max(acc, vec4f(0.0)); } else if (p.act == 2u) { acc = clamp(acc, vec4f(p.lo), vec4f(p.hi)); }
  for (var j = 0u; j < 4u; j++) {
    let oy = oy0 + j;
    if (oy < p.Ho) { y[(nc * p.Ho + oy) * p.Wo + ox] = acc[j]; }
  }
}
