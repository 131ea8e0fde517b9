// maxpool2_backward_windows — one invocation per pooling window: it recomputes the
// window's first maximum (row-major, as the reference) and writes all four dx values,
// plus the zeros of a trailing odd row/column its window borders.
//   dx[n,c,y,x] = dy[n,c,y/2,x/2] if (y,x) is its window's argmax, else 0
// Layout: x, dx NCHW [N,C,H,W]; dy [N,C,H/2,W/2].
struct Params { NC: u32, H: u32, W: u32, Ho: u32, Wo: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
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
  let v = array<f32, 4>(x[base], x[base + 1u], x[base + p.W], x[base + p.W + 1u]);
  var best = 0u;
  for (var k = 1u; k < 4u; k++) { if (v[k] > v[best]) { best = k; } }
  let g = dy[o];
  dx[base] = select(0.0, g, best == 0u);
  dx[base + 1u] = select(0.0, g, best == 1u);
  dx[base + p.W] = select(0.0, g, best == 2u);
  dx[base + p.W + 1u] = select(0.0, g, best == 3u);
  // Inputs the floor drops get no gradient: the last column / row (and corner) when odd.
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
