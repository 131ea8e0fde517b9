// conv2d_naive — the baseline: one invocation per output element.
//   y[n,co,oy,ox] = act( b[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci,oy+ky-PAD,ox+kx-PAD] )
// x outside the image reads as 0 (PAD=0: "valid", PAD=2: the full correlation grad-input needs).
// Layout: x NCHW [N,Ci,H,W]; w [Co,Ci,3,3]; b [Co]; y NCHW [N,Co,Ho,Wo], Ho = H+2*PAD-2.
struct Params { N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, pad: u32, relu: u32, bias: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N * p.Co * p.Ho * p.Wo) { return; }
  let ox = i % p.Wo;
  let oy = (i / p.Wo) % p.Ho;
  let co = (i / (p.Wo * p.Ho)) % p.Co;
  let n = i / (p.Wo * p.Ho * p.Co);
  var s = 0.0;
  if (p.bias != 0u) { s = b[co]; }
  for (var ci = 0u; ci < p.Ci; ci++) {
    for (var ky = 0u; ky < 3u; ky++) {
      let iy = i32(oy + ky) - i32(p.pad);
      if (iy < 0 || iy >= i32(p.H)) { continue; }
      for (var kx = 0u; kx < 3u; kx++) {
        let ix = i32(ox + kx) - i32(p.pad);
        if (ix < 0 || ix >= i32(p.W)) { continue; }
        s += w[((co * p.Ci + ci) * 3u + ky) * 3u + kx] * x[((n * p.Ci + ci) * p.H + u32(iy)) * p.W + u32(ix)];
      }
    }
  }
  if (p.relu != 0u) { s = max(s, 0.0); }
  y[i] = s;
}
