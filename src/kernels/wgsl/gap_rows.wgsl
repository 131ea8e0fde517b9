// gap_rows — global average pooling, one invocation per (n,c) row:
//   y[n,c] = (1/HW) * sum_i x[n,c,i]
// For the small maps at the end of a CNN this beats a workgroup per row, whose
// fixed cost dominates on CPU-backed devices. Layout: x [NC,HW]; y [NC].
struct Params { NC: u32, HW: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let nc = gid.x + gid.y * nwg.x * WG;
  if (nc >= p.NC) { return; }
  var s = 0.0;
  for (var i = 0u; i < p.HW; i++) { s += x[nc * p.HW + i]; }
  y[nc] = s / f32(p.HW);
}
