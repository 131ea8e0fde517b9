// dense_grad_params — gradients of a dense layer's parameters, reduced over the batch:
//   dw[j,k] = sum_n dy[n,j] * x[n,k]      db[j] = sum_n dy[n,j]
// Layout: x [N,K]; dy [N,J]; dw [J,K]; db [J]. Invocation (j,k) for k < K writes dw,
// invocation (j,K) writes db, so one launch covers both.
struct Params { N: u32, K: u32, J: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  let K1 = p.K + 1u;
  if (o >= p.J * K1) { return; }
  let k = o % K1;
  let j = o / K1;
  var s = 0.0;
  if (k == p.K) {
    for (var n = 0u; n < p.N; n++) { s += dy[n * p.J + j]; }
    db[j] = s;
  } else {
    for (var n = 0u; n < p.N; n++) { s += dy[n * p.J + j] * x[n * p.K + k]; }
    dw[j * p.K + k] = s;
  }
}
