// winograd_weights — the filter transform of Winograd's minimal filtering F(m x m, 3x3)
// (Lavin & Gray 2015), once per weight update: U = G g G^T, an ALPHA x ALPHA array
// (ALPHA = TILE + 2) per output and input channel.
//   F(2x2): G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   F(4x4): G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   F(6x6): G = [1 0 0; -2/9 -2/9 -2/9; -2/9 2/9 -2/9; 1/90 1/45 2/45; 1/90 -1/45 2/45;
//                32/45 16/45 8/45; 32/45 -16/45 8/45; 0 0 1]
// g[o, i] = w[o, i] (FLIP = false: forward) or w[i, o] rotated 180 degrees (FLIP = true:
// grad-input, the flipped transposed weights dx = dy (*) w needs).
// Layout: w [Co,Ci,3,3] as stored; U [ALPHA^2, Ci4, CoP] of vec4 over 4 input channels
// (the GEMM's lanes load one vec4 per 4 input channels), zero-padded to CoP output
// channels and 4*Ci4 input channels. One invocation per (input channel, output channel) of U.
struct Params { Co: u32, Ci: u32, outC: u32, inC: u32, CoP: u32, Ci4: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> u: array<f32>;

override WG: u32 = 64;
override FLIP: bool = false;
override TILE: u32 = 2u;
override ALPHA: u32 = TILE + 2u;

/** G g for one column g of the 3x3 kernel: ALPHA values (the rest 0). */
fn filterColumn(g0: f32, g1: f32, g2: f32) -> array<f32, 8> {
  if (TILE == 2u) {
    return array<f32, 8>(g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2, 0.0, 0.0, 0.0, 0.0);
  }
  if (TILE == 4u) {
    return array<f32, 8>(g0 / 4.0, -(g0 + g1 + g2) / 6.0, -(g0 - g1 + g2) / 6.0,
                         g0 / 24.0 + g1 / 12.0 + g2 / 6.0, g0 / 24.0 - g1 / 12.0 + g2 / 6.0, g2, 0.0, 0.0);
  }
  return array<f32, 8>(g0, -2.0 * (g0 + g1 + g2) / 9.0, -2.0 * (g0 - g1 + g2) / 9.0,
                       g0 / 90.0 + g1 / 45.0 + 2.0 * g2 / 45.0, g0 / 90.0 - g1 / 45.0 + 2.0 * g2 / 45.0,
                       (32.0 * g0 + 16.0 * g1 + 8.0 * g2) / 45.0, (32.0 * g0 - 16.0 * g1 + 8.0 * g2) / 45.0, g2);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.CoP * p.Ci4 * 4u) { return; }
  let o = i % p.CoP;
  let c = i / p.CoP;
  var g: array<f32, 9>;
  if (o < p.outC && c < p.inC) {
    for (var t = 0u; t < 9u; t++) {
      g[t] = select(w[(o * p.Ci + c) * 9u + t], w[(c * p.Ci + o) * 9u + 8u - t], FLIP);
    }
  }
  // Columns first (G g: ALPHA x 3), then rows ((G g) G^T: ALPHA x ALPHA).
  let k0 = filterColumn(g[0], g[3], g[6]);
  let k1 = filterColumn(g[1], g[4], g[7]);
  let k2 = filterColumn(g[2], g[5], g[8]);
  for (var r = 0u; r < ALPHA; r++) {
    let row = filterColumn(k0[r], k1[r], k2[r]);
    for (var q = 0u; q < ALPHA; q++) {
      let xi = r * ALPHA + q;
      u[((xi * p.Ci4 + c / 4u) * p.CoP + o) * 4u + c % 4u] = row[q];
    }
  }
}
