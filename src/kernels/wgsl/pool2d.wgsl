// pool2d — ONNX MaxPool / AveragePool over NCHW, any window, stride, padding and dilation:
//   window of output (oy, ox): input rows oy*SH - PT + ky*DH (ky < KH), columns likewise;
//   MAX (mode 0): the largest value of the window's taps that lie inside the input;
//   AVERAGE (mode 1): their sum divided by the taps inside the input (countPad 0), or by the
//   taps inside the padded input (countPad 1: ONNX count_include_pad; with ceil_mode the
//   window's part beyond the padding still does not count).
// Layout: x [NC,H,W], y [NC,Ho,Wo]. One invocation per output element.
struct Params {
  NC: u32, H: u32, W: u32, Ho: u32, Wo: u32, KH: u32, KW: u32, SH: u32,
  SW: u32, PT: u32, PL: u32, PB: u32, PR: u32, DH: u32, DW: u32, mode: u32,
  countPad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.NC * p.Ho * p.Wo) { return; }
  let ox = i % p.Wo;
  let oy = (i / p.Wo) % p.Ho;
  let nc = i / (p.Wo * p.Ho);
  let y0 = i32(oy * p.SH) - i32(p.PT);
  let x0 = i32(ox * p.SW) - i32(p.PL);
  var best = bitcast<f32>(0xff7fffffu); // the lowest finite f32
  var sum = 0.0;
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
      let v = x[(nc * p.H + u32(iy)) * p.W + u32(ix)];
      best = max(best, v);
      sum += v;
      inside += 1u;
    }
  }
  if (p.mode == 0u) {
    y[i] = best;
  } else {
    y[i] = sum / f32(max(select(inside, padded, p.countPad == 1u), 1u));
  }
}
