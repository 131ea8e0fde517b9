// dense — y[n,j] = b[j] + sum_k x[n,k] * w[j,k]
// Layout: x [N,K]; w [J,K] (PyTorch's Linear layout); b [J]; y [N,J]. One invocation per output.
struct Params { N: u32, K: u32, J: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.N * p.J) { return; }
  let j = o % p.J;
  let n = o / p.J;
  var s = b[j];
  for (var k = 0u; k < p.K; k++) { s += x[n * p.K + k] * w[j * p.K + k]; }
  y[o] = s;
}
