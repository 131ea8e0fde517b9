// conv2d_grad_weight_split — weight gradient as a GEMM whose long reduction
// (K = N*Ho*Wo) is split into S slices of output rows; sum_slices adds them up.
//   part[s,co,ci,ky,kx] = sum_{(n,oy) in slice s} sum_ox dy[n,co,oy,ox] * x[n,ci,oy+ky,ox+kx]
// Layout: x NCHW [N,Ci,H,W]; dy NCHW [N,Co,Ho,Wo] (Ho = H-2); part [S,Co,Ci,3,3].
// Each invocation owns TM output channels x one input channel x 9 taps (9*TM sums)
// and walks its rows 4 columns at a time: 4*TM + 18 loads for 36*TM multiply-adds.
// Grid: x,y = (channel block, ci) flattened; z = slice.
struct Params { N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, rowsPerSlice: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

override WG: u32 = 64;
override TM: u32 = 4;   // output channels per invocation, at most MAX_TM
const MAX_TM = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let cell = gid.x + gid.y * nwg.x * WG;
  let coBlocks = (p.Co + TM - 1u) / TM;
  if (cell >= coBlocks * p.Ci) { return; }
  let ci = cell % p.Ci;
  let co0 = (cell / p.Ci) * TM;
  let rowBegin = gid.z * p.rowsPerSlice;
  let rowEnd = min(rowBegin + p.rowsPerSlice, p.N * p.Ho);

  var acc: array<f32, 72>;   // 9 * MAX_TM
  for (var i = 0u; i < 9u * TM; i++) { acc[i] = 0.0; }
  let dyPlane = p.Ho * p.Wo;
  for (var r = rowBegin; r < rowEnd; r++) {
    let oy = r % p.Ho;
    let n = r / p.Ho;
    let xPlane = (n * p.Ci + ci) * p.H;
    for (var ox0 = 0u; ox0 < p.Wo; ox0 += 4u) {
      var d: array<vec4f, MAX_TM>;
      for (var m = 0u; m < TM; m++) {
        let co = min(co0 + m, p.Co - 1u);
        let base = (n * p.Co + co) * dyPlane + oy * p.Wo + ox0;
        var v = vec4f(0.0);
        for (var j = 0u; j < 4u; j++) {
          v[j] = select(0.0, dy[base + min(j, p.Wo - 1u - ox0)], ox0 + j < p.Wo);
        }
        d[m] = v;
      }
      for (var ky = 0u; ky < 3u; ky++) {
        let row = (xPlane + oy + ky) * p.W;
        var q: array<f32, 6>;
        for (var j = 0u; j < 6u; j++) { q[j] = x[row + min(ox0 + j, p.W - 1u)]; }
        let q0 = vec4f(q[0], q[1], q[2], q[3]);
        let q1 = vec4f(q[1], q[2], q[3], q[4]);
        let q2 = vec4f(q[2], q[3], q[4], q[5]);
        for (var m = 0u; m < TM; m++) {
          let a = m * 9u + ky * 3u;
          acc[a] += dot(d[m], q0);
          acc[a + 1u] += dot(d[m], q1);
          acc[a + 2u] += dot(d[m], q2);
        }
      }
    }
  }
  let slice = gid.z * p.Co * p.Ci * 9u;
  for (var m = 0u; m < TM; m++) {
    let co = co0 + m;
    if (co >= p.Co) { break; }
    let base = slice + (co * p.Ci + ci) * 9u;
    for (var t = 0u; t < 9u; t++) { part[base + t] = acc[m * 9u + t]; }
  }
}
