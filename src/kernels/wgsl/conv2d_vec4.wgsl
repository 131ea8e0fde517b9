// conv2d_vec4 — register-blocked direct convolution whose weights arrive as vec4s of 4
// output channels (see conv2d_pack_weights), halving the loads of conv2d_tiled.
//   y[n,co,oy,ox] = act( b[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci,oy+ky-PAD,ox+kx-PAD] )
// x outside the image reads as 0 (PAD=0: forward; PAD=2: grad-input with flipped weights).
// Layout: x NCHW [N,Ci,H,W]; wp [Ci*9, CoP/4] of vec4 (CoP = Co rounded up to 4);
// b [Co]; y NCHW [N,Co,Ho,Wo], Ho = H+2*PAD-2.
// Each invocation owns 4 output channels x 4 adjacent columns of one output row: per
// (ci, ky) it loads 6 inputs and 3 vec4 weights for 48 multiply-adds.
// Grid: x,y = (n, oy, column block) flattened; z = block of 4 channels.
struct Params { N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, xBlocks: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wp: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;
override PAD: u32 = 0;
override RELU: bool = false;
override BIAS: bool = true;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let cell = gid.x + gid.y * nwg.x * WG;
  if (cell >= p.N * p.Ho * p.xBlocks) { return; }
  let ox0 = (cell % p.xBlocks) * 4u;
  let oy = (cell / p.xBlocks) % p.Ho;
  let n = cell / (p.xBlocks * p.Ho);
  let cb = wid.z;            // channel block: uniform over the workgroup
  let coP4 = (p.Co + 3u) / 4u;

  // acc[j] holds the 4 channels of output column ox0 + j.
  var acc0 = vec4f(0.0);
  if (BIAS) {
    for (var m = 0u; m < 4u; m++) { acc0[m] = b[min(cb * 4u + m, p.Co - 1u)]; }
  }
  var acc1 = acc0;
  var acc2 = acc0;
  var acc3 = acc0;
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
      let tap = (ci * 9u + ky * 3u) * coP4 + cb;
      let w0 = wp[tap];
      let w1 = wp[tap + coP4];
      let w2 = wp[tap + 2u * coP4];
      acc0 += w0 * r[0] + w1 * r[1] + w2 * r[2];
      acc1 += w0 * r[1] + w1 * r[2] + w2 * r[3];
      acc2 += w0 * r[2] + w1 * r[3] + w2 * r[4];
      acc3 += w0 * r[3] + w1 * r[4] + w2 * r[5];
    }
  }
  let plane = p.Ho * p.Wo;
  let acc = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  for (var m = 0u; m < 4u; m++) {
    let co = cb * 4u + m;
    if (co >= p.Co) { break; }
    let base = (n * p.Co + co) * plane + oy * p.Wo + ox0;
    for (var j = 0u; j < 4u; j++) {
      var v = acc[j][m];
      if (RELU) { v = max(v, 0.0); }
      if (ox0 + j < p.Wo) { y[base + j] = v; }
    }
  }
}
