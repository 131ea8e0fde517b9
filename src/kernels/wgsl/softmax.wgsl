// softmax — probs[n,j] = exp(z[n,j] - max_j z[n,:]) / sum_j exp(z[n,j] - max).
// Layout: z, probs [N,J]. One invocation per row (J is a handful of classes).
struct Params { N: u32, J: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  if (n >= p.N) { return; }
  let row = n * p.J;
  var m = z[row];
  for (var j = 1u; j < p.J; j++) { m = max(m, z[row + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.J; j++) { s += exp(z[row + j] - m); }
  for (var j = 0u; j < p.J; j++) { probs[row + j] = exp(z[row + j] - m) / s; }
}
