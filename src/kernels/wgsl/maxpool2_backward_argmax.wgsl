// maxpool2_backward_argmax — the gradient through a 2x2 max-pool of a ReLU's output, from
// the argmax its forward recorded (maxpool2_relu_argmax, or conv2d_subgroup's epilogue):
//   dx[n,c,2i+a,2j+b] = dy[n,c,i,j] if argmax[n,c,i,j] == 2a + b, else 0  (4: all 0)
// plus the zeros of a trailing odd row/column the window borders (the floor drops them).
// Layout: argmax, dy [N,C,H/2,W/2]; dx NCHW [N,C,H,W]. One invocation per window.
struct Params { NC: u32, H: u32, W: u32, Ho: u32, Wo: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> argmax: array<u32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.NC * p.Ho * p.Wo) { return; }
  let j = o % p.Wo;
  let i = (o / p.Wo) % p.Ho;
  let nc = o / (p.Wo * p.Ho);
  let base = (nc * p.H + 2u * i) * p.W + 2u * j;
  let best = argmax[o];
  let g = dy[o];
  dx[base] = select(0.0, g, best == 0u);
  dx[base + 1u] = select(0.0, g, best == 1u);
  dx[base + p.W] = select(0.0, g, best == 2u);
  dx[base + p.W + 1u] = select(0.0, g, best == 3u);
  let oddW = p.W % 2u == 1u && j == p.Wo - 1u;
  let oddH = p.H % 2u == 1u && i == p.Ho - 1u;
  if (oddW) {
    dx[base + 2u] = 0.0;
    dx[base + p.W + 2u] = 0.0;
  }
  if (oddH) {
    dx[base + 2u * p.W] = 0.0;
    dx[base + 2u * p.W + 1u] = 0.0;
    if (oddW) { dx[base + 2u * p.W + 2u] = 0.0; }
  }
}
