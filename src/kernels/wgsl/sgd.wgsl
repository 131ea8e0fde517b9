// sgd — SGD with momentum and L2 weight decay, in place:
//   g' = g + wd * w;   v = momentum * v + g';   w = w - lr * v
// hyper = [lr, momentum, wd] lives in a buffer so changing the learning rate
// does not create a new pipeline or uniform. Layout: w, v, g [len]; hyper [4].
struct Params { len: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read> hyper: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.len) { return; }
  let gi = g[i] + hyper[2] * w[i];
  let vi = hyper[1] * v[i] + gi;
  v[i] = vi;
  w[i] = w[i] - hyper[0] * vi;
}
