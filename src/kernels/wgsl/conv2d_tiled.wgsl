// conv2d_tiled — register-blocked direct convolution (an implicit GEMM with M = Co,
// N = output pixels, K = Ci*9), no workgroup memory.
//   y[n,co,oy,ox] = act( b[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci,oy+ky-PAD,ox+kx-PAD] )
// x outside the image reads as 0 (PAD=0: "valid" forward; PAD=2: grad-input as a full
// correlation of dy with the flipped, transposed weights).
// Layout: x NCHW [N,Ci,H,W]; w [Co,Ci,3,3]; b [Co]; y NCHW [N,Co,Ho,Wo], Ho = H+2*PAD-2.
// Each invocation owns TM output channels x 4 adjacent columns of one output row: per
// (ci, ky) it loads 6 inputs and 3*TM weights and does 12*TM multiply-adds.
// Grid: x,y = (n, oy, column block) flattened; z = channel block.
struct Params { N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, xBlocks: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;
override TM: u32 = 8;      // output channels per invocation, at most MAX_TM
override PAD: u32 = 0;
override RELU: bool = false;
override BIAS: bool = true;
const MAX_TM = 16u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let cell = gid.x + gid.y * nwg.x * WG;
  if (cell >= p.N * p.Ho * p.xBlocks) { return; }
  let ox0 = (cell % p.xBlocks) * 4u;
  let oy = (cell / p.xBlocks) % p.Ho;
  let n = cell / (p.xBlocks * p.Ho);
  // From the workgroup id, so the compiler sees every weight address as uniform across
  // the workgroup: one scalar load and a broadcast instead of a gather per invocation.
  let co0 = wid.z * TM;

  var acc: array<vec4f, MAX_TM>;
  for (var m = 0u; m < TM; m++) {
    acc[m] = vec4f(0.0);
    if (BIAS) { acc[m] = vec4f(b[min(co0 + m, p.Co - 1u)]); }
  }
  let wStride = p.Ci * 9u;
  for (var ci = 0u; ci < p.Ci; ci++) {
    let plane = (n * p.Ci + ci) * p.H;
    for (var ky = 0u; ky < 3u; ky++) {
      let iy = i32(oy + ky) - i32(PAD);
      if (iy < 0 || iy >= i32(p.H)) { continue; }
      let row = (plane + u32(iy)) * p.W;
      var r: array<f32, 6>;
      for (var j = 0u; j < 6u; j++) {
        let ix = i32(ox0 + j) - i32(PAD);
        let inside = ix >= 0 && ix < i32(p.W);
        r[j] = select(0.0, x[row + u32(clamp(ix, 0, i32(p.W) - 1))], inside);
      }
      let r0 = vec4f(r[0], r[1], r[2], r[3]);
      let r1 = vec4f(r[1], r[2], r[3], r[4]);
      let r2 = vec4f(r[2], r[3], r[4], r[5]);
      let wRow = ci * 9u + ky * 3u;
      for (var m = 0u; m < TM; m++) {
        let wi = min(co0 + m, p.Co - 1u) * wStride + wRow;
        acc[m] += w[wi] * r0 + w[wi + 1u] * r1 + w[wi + 2u] * r2;
      }
    }
  }
  let plane = p.Ho * p.Wo;
  for (var m = 0u; m < TM; m++) {
    let co = co0 + m;
    if (co >= p.Co) { break; }
    var v = acc[m];
    if (RELU) { v = max(v, vec4f(0.0)); }
    let base = (n * p.Co + co) * plane + oy * p.Wo + ox0;
    for (var j = 0u; j < 4u; j++) {
      if (ox0 + j < p.Wo) { y[base + j] = v[j]; }
    }
  }
}
