// sum_slices — finishes a split reduction: out[i] = sum_s part[s*L + i].
// Layout: part [S,L] row-major; out [L].
struct Params { S: u32, L: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.L) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.S; k++) { s += part[k * p.L + i]; }
  out[i] = s;
}
