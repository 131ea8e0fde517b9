// mask_images — the altered copies of a batch that the faithfulness metrics feed the network:
//   MODE 0 (map):    y[n,c,p] = x[n,c,p] * E[n,p]             (Average Drop, Increase in Confidence)
//   MODE 1 (delete): y[n,c,p] = rank[n,p] <  k ? 0 : x[n,c,p]   (the k most salient pixels removed)
//   MODE 2 (insert): y[n,c,p] = rank[n,p] <  k ? x[n,c,p] : 0   (only the k most salient pixels kept)
// E: the explanation map at the network input's size, 0..1; rank[n,p]: the pixel's place in
// the map's descending order (0 = most salient), as f32. Layout: x, y NCHW [N,C,H*W]; E, rank
// [N,H*W]. One invocation per output value.
struct Params { N: u32, C: u32, HW: u32, mode: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> E: array<f32>;
@group(0) @binding(3) var<storage, read> rank: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * WG;
  if (i >= p.N * p.C * p.HW) { return; }
  let px = i % p.HW;
  let n = i / (p.C * p.HW);
  let at = n * p.HW + px;
  let v = x[i];
  if (p.mode == 0u) {
    y[i] = v * E[at];
  } else {
    let salient = rank[at] < f32(p.k);
    y[i] = select(select(v, 0.0, salient), select(0.0, v, salient), p.mode == 2u);
  }
}
