// gap_backward — dx[n,c,i] = dy[n,c] / HW.
// Layout: dx NCHW flattened as [NC,HW]; dy [N,C].
struct Params { NC: u32, HW: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.NC * p.HW) { return; }
  dx[e] = dy[e / p.HW] / f32(p.HW);
}
