// maxpool2_backward — routes each pooled gradient to the first maximum of its window
// (row-major order, the same tie rule as the CPU reference); every other input gets 0.
//   dx[n,c,y,x] = dy[n,c,y/2,x/2] if (y,x) is the argmax of its window, else 0
// The argmax is recomputed from x, so the forward keeps no index tensor.
// Layout: x, dx NCHW [N,C,H,W]; dy [N,C,H/2,W/2]. One invocation per input element.
struct Params { NC: u32, H: u32, W: u32, Ho: u32, Wo: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.NC * p.H * p.W) { return; }
  let xx = e % p.W;
  let yy = (e / p.W) % p.H;
  let nc = e / (p.W * p.H);
  let i = yy / 2u;
  let j = xx / 2u;
  if (i >= p.Ho || j >= p.Wo) { dx[e] = 0.0; return; }
  let base = (nc * p.H + 2u * i) * p.W + 2u * j;
  var best = base;
  for (var k = 1u; k < 4u; k++) {
    let idx = base + (k / 2u) * p.W + (k % 2u);
    if (x[idx] > x[best]) { best = idx; }
  }
  dx[e] = select(0.0, dy[(nc * p.Ho + i) * p.Wo + j], best == e);
}
