// copy_blocks — one input of a Concat (or a Slice along one axis): `outer` blocks of `inner`
// consecutive values, block o read from src at o * srcStride + srcOffset and written to dst
// at o * dstStride + dstOffset:
//   dst[o * dstStride + dstOffset + j] = src[o * srcStride + srcOffset + j],  j < inner
struct Params { outer: u32, inner: u32, srcStride: u32, srcOffset: u32, dstStride: u32, dstOffset: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.outer * p.inner) { return; }
  let o = i / p.inner;
  let j = i % p.inner;
  dst[o * p.dstStride + p.dstOffset + j] = src[o * p.srcStride + p.srcOffset + j];
}
