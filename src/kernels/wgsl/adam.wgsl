// adam — Adam with decoupled weight decay (AdamW), in place:
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
//   w = w - lr * ( (m/c1) / (sqrt(v/c2) + eps) + wd * w )
// hyper = [lr, b1, b2, eps, wd, c1, c2] with the bias corrections c1 = 1-b1^t, c2 = 1-b2^t
// computed on the host each step. Layout: w, m, v, g [len]; hyper [8].
struct Params { len: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read> hyper: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.len) { return; }
  let gi = g[i];
  let mi = hyper[1] * m[i] + (1.0 - hyper[1]) * gi;
  let vi = hyper[2] * v[i] + (1.0 - hyper[2]) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  let step = (mi / hyper[5]) / (sqrt(vi / hyper[6]) + hyper[3]) + hyper[4] * w[i];
  w[i] = w[i] - hyper[0] * step;
}
