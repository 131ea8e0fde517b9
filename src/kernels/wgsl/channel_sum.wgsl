// channel_sum — per-channel sum over batch and space (the conv bias gradient):
//   out[c] = sum_{n,i} v[n,c,i]
// Layout: v NCHW flattened as [N,C,HW]; out [C]. One workgroup per channel, each
// invocation sums a strided share, then a tree reduction in workgroup memory.
struct Params { N: u32, C: u32, HW: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;   // a power of two
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x;
  var s = 0.0;
  for (var n = 0u; n < p.N; n++) {
    let base = (n * p.C + c) * p.HW;
    for (var i = lid; i < p.HW; i += WG) { s += v[base + i]; }
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[c] = partial[0]; }
}
