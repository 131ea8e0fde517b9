// conv2d_general_tiled — conv2d_general (the same math, padding, dilation, groups, bias and
// activation) with 4 output channels of one group per invocation: each input tap it loads
// serves 4 filters. Used where no specialised variant applies (strided 3x3, the 7x7 stem,
// dilated and grouped convolutions).
//   y[n,co,oy,ox] = act(b[co] + sum_{c < Cig, ky, kx} w[co, c, ky, kx] * x[n, g*Cig + c, oy*SH - PT + ky*DH, ox*SW - PL + kx*DW])
// Layout: x [N,Ci,H,W], w [Co,Ci/G,KH,KW], b [Co], y [N,Co,Ho,Wo]. Dispatch: x = output pixels
// (ox fastest), y = groups of 4 output channels (never across two groups: Cog4 = ceil(Cog/4)
// per group), z = N.
struct Params {
  Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, KH: u32, KW: u32,
  SH: u32, SW: u32, PT: u32, PL: u32, DH: u32, DW: u32, G: u32, act: u32,
  lo: f32, hi: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let px = gid.x;
  if (px >= p.Ho * p.Wo) { return; }
  let Cig = p.Ci / p.G;
  let Cog = p.Co / p.G;
  let Cog4 = (Cog + 3u) / 4u;
  let g = gid.y / Cog4;
  let co0 = g * Cog + (gid.y % Cog4) * 4u;
  let last = g * Cog + Cog - 1u;   // the group's last channel: lanes past it repeat it and are not stored
  let n = gid.z;
  let oy = px / p.Wo;
  let ox = px % p.Wo;
  let y0 = i32(oy * p.SH) - i32(p.PT);
  let x0 = i32(ox * p.SW) - i32(p.PL);
  let cos = vec4u(co0, min(co0 + 1u, last), min(co0 + 2u, last), min(co0 + 3u, last));
  var acc = vec4f(b[cos.x], b[cos.y], b[cos.z], b[cos.w]);
  let taps = p.KH * p.KW;
  for (var c = 0u; c < Cig; c++) {
    let plane = (n * p.Ci + g * Cig + c) * p.H * p.W;
    let wc = vec4u((cos * Cig + c) * taps);
    for (var ky = 0u; ky < p.KH; ky++) {
      let iy = y0 + i32(ky * p.DH);
      if (iy < 0 || iy >= i32(p.H)) { continue; }
      let row = plane + u32(iy) * p.W;
      for (var kx = 0u; kx < p.KW; kx++) {
        let ix = x0 + i32(kx * p.DW);
        if (ix < 0 || ix >= i32(p.W)) { continue; }
        let v = x[row + u32(ix)];
        let t = ky * p.KW + kx;
        acc += v * vec4f(w[wc.x + t], w[wc.y + t], w[wc.z + t], w[wc.w + t]);
      }
    }
  }
  if (p.act == 1u) { acc = max(acc, vec4f(0.0)); } else if (p.act == 2u) { acc = clamp(acc, vec4f(p.lo), vec4f(p.hi)); }
  let out = n * p.Co * p.Ho * p.Wo + px;
  for (var j = 0u; j < 4u; j++) {
    if (co0 + j <= last) { y[out + (co0 + j) * p.Ho * p.Wo] = acc[j]; }
  }
}
