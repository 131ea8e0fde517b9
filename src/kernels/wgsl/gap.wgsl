// gap — global average pooling: y[n,c] = (1/HW) * sum_i x[n,c,i].
// Layout: x NCHW flattened as [NC,HW]; y [N,C]. One workgroup per (n,c), tree reduction.
struct Params { NC: u32, HW: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;   // a power of two
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let nc = wid.x + wid.y * nwg.x;
  if (nc >= p.NC) { return; }   // uniform per workgroup, so the barriers below stay uniform
  var s = 0.0;
  for (var i = lid; i < p.HW; i += WG) { s += x[nc * p.HW + i]; }
  partial[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { y[nc] = partial[0] / f32(p.HW); }
}
