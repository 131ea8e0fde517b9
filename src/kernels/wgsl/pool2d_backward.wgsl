// pool2d_backward — the gradient of pool2d with respect to its input: each output's gradient
// goes to its window's maximum (MAX: the first largest tap in window order, as the forward
// scans), or is spread evenly over the taps it averaged (AVERAGE, the forward's count):
//   dx[nc,iy,ix] = sum over the windows (oy,ox) holding (iy,ix) of dy[nc,oy,ox] * share
// Layout: x [NC,H,W], dy [NC,Ho,Wo], dx [NC,H,W]. One invocation per input element.
struct Params {
  NC: u32, H: u32, W: u32, Ho: u32, Wo: u32, KH: u32, KW: u32, SH: u32,
  SW: u32, PT: u32, PL: u32, PB: u32, PR: u32, DH: u32, DW: u32, mode: u32,
  countPad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

override WG: u32 = 64;

// The window's first largest tap (as an input index), or its tap count for AVERAGE.
fn window(nc: u32, oy: u32, ox: u32) -> vec2u {
  let y0 = i32(oy * p.SH) - i32(p.PT);
  let x0 = i32(ox * p.SW) - i32(p.PL);
  var best = bitcast<f32>(0xff7fffffu);
  var at = 0xffffffffu;
  var inside = 0u;
  var padded = 0u;
  for (var ky = 0u; ky < p.KH; ky++) {
    let iy = y0 + i32(ky * p.DH);
    if (iy >= i32(p.H + p.PB)) { continue; }
    for (var kx = 0u; kx < p.KW; kx++) {
      let ix = x0 + i32(kx * p.DW);
      if (ix >= i32(p.W + p.PR)) { continue; }
      padded += 1u;
      if (iy < 0 || iy >= i32(p.H) || ix < 0 || ix >= i32(p.W)) { continue; }
      inside += 1u;
      let idx = (nc * p.H + u32(iy)) * p.W + u32(ix);
      if (at == 0xffffffffu || x[idx] > best) { best = x[idx]; at = idx; }
    }
  }
  return vec2u(at, max(select(inside, padded, p.countPad == 1u), 1u));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.NC * p.H * p.W) { return; }
  let ix = i % p.W;
  let iy = (i / p.W) % p.H;
  let nc = i / (p.W * p.H);
  var s = 0.0;
  for (var ky = 0u; ky < p.KH; ky++) {
    let ty = i32(iy + p.PT) - i32(ky * p.DH);
    if (ty < 0 || ty % i32(p.SH) != 0) { continue; }
    let oy = u32(ty) / p.SH;
    if (oy >= p.Ho) { continue; }
    for (var kx = 0u; kx < p.KW; kx++) {
      let tx = i32(ix + p.PL) - i32(kx * p.DW);
      if (tx < 0 || tx % i32(p.SW) != 0) { continue; }
      let ox = u32(tx) / p.SW;
      if (ox >= p.Wo) { continue; }
      let win = window(nc, oy, ox);
      let g = dy[(nc * p.Ho + oy) * p.Wo + ox];
      if (p.mode == 0u) {
        if (win.x == i) { s += g; }
      } else {
        s += g / f32(win.y);
      }
    }
  }
  dx[i] = s;
}
