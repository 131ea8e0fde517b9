// conv2d_pack_rows — a weight matrix re-laid for conv2d_gemm_subgroup: 4 consecutive values of
// k of one output channel in one vec4, the channels of one k4 side by side,
//   wq[(k4*CoP + co)*4 + j] = w[co, 4*k4 + j]   (0 past K or Co)
// Layout: w [Co, K] (a convolution's [Co, Ci, KH, KW]); wq [ceil(K/4), CoP, 4], CoP = Co
// rounded up to 16. One invocation per float of wq.
struct Params { Co: u32, K: u32, CoP: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> wq: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= (p.K + 3u) / 4u * p.CoP * 4u) { return; }
  let j = i % 4u;
  let co = (i / 4u) % p.CoP;
  let k = (i / (4u * p.CoP)) * 4u + j;
  wq[i] = select(0.0, w[min(co, p.Co - 1u) * p.K + min(k, p.K - 1u)], co < p.Co && k < p.K);
}
