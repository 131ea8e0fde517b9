// dense_grad_input — dx[n,k] = sum_j dy[n,j] * w[j,k]
// Layout: dy [N,J]; w [J,K]; dx [N,K]. One invocation per element of dx.
struct Params { N: u32, K: u32, J: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.N * p.K) { return; }
  let k = o % p.K;
  let n = o / p.K;
  var s = 0.0;
  for (var j = 0u; j < p.J; j++) { s += dy[n * p.J + j] * w[j * p.K + k]; }
  dx[o] = s;
}
