// conv2d_grad_weight_naive — the baseline (what tfjs does): one invocation per weight
// with a serial loop over every output pixel of the batch.
//   dw[co,ci,ky,kx] = sum_{n,oy,ox} dy[n,co,oy,ox] * x[n,ci,oy+ky,ox+kx]
// Layout: x NCHW [N,Ci,H,W]; dy NCHW [N,Co,Ho,Wo] (Ho = H-2); dw [Co,Ci,3,3].
struct Params { N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.Co * p.Ci * 9u) { return; }
  let kx = i % 3u;
  let ky = (i / 3u) % 3u;
  let ci = (i / 9u) % p.Ci;
  let co = i / (9u * p.Ci);
  var s = 0.0;
  for (var n = 0u; n < p.N; n++) {
    for (var oy = 0u; oy < p.Ho; oy++) {
      let dyRow = ((n * p.Co + co) * p.Ho + oy) * p.Wo;
      let xRow = ((n * p.Ci + ci) * p.H + oy + ky) * p.W + kx;
      for (var ox = 0u; ox < p.Wo; ox++) {
        s += dy[dyRow + ox] * x[xRow + ox];
      }
    }
  }
  dw[i] = s;
}
