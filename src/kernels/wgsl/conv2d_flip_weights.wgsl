// conv2d_flip_weights — the weights grad-input convolves with:
//   wf[ci,co,ky,kx] = w[co,ci,2-ky,2-kx]
// Layout: w [Co,Ci,3,3] -> wf [Ci,Co,3,3]. One invocation per element.
struct Params { Co: u32, Ci: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> wf: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.Co * p.Ci * 9u) { return; }
  let t = i % 9u;
  let co = (i / 9u) % p.Co;
  let ci = i / (9u * p.Co);
  wf[i] = w[(co * p.Ci + ci) * 9u + 8u - t];
}
