// winograd_output — the inverse transform of F(m x m, 3x3) and the layer's epilogue:
//   y tile = A^T M A (+ bias, ReLU), TILE x TILE outputs from ALPHA x ALPHA products
//   F(2x2): A^T = [1 1 1 0; 0 1 -1 -1]
//   F(4x4): A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//   F(6x6): A^T = [1 1 1 1 1 1 1 0; 0 1 -1 2 -2 1/2 -1/2 0; 0 1 1 4 4 1/4 1/4 0;
//                  0 1 -1 8 -8 1/8 -1/8 0; 0 1 1 16 16 1/16 1/16 0; 0 1 -1 32 -32 1/32 -1/32 1]
// POOL: also the 2x2 max-pool (floor) [N,Co,Ho/2,Wo/2] and, with ARGMAX, where each maximum
// lies (0..3 in the window, 4: the ReLU's floor), as conv2d_subgroup writes them; tiles start
// at even rows and columns, so every window lies in one tile. STORE_Y = false skips y.
// Layout: M [CoP, TPc/4, M_STRIDE] of vec4 over 4 tiles (winograd_gemm) for this chunk of Tc
// tiles from tileBase; y NCHW [N,Co,Ho,Wo]. One invocation per (output channel, 4 tiles of
// the chunk): one vec4 load brings a product of all 4.
struct Params { Co: u32, Ho: u32, Wo: u32, tH: u32, tW: u32, CoP: u32, TPc: u32, tileBase: u32, Tc: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> m: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(5) var<storage, read_write> argmax: array<u32>;

override WG: u32 = 64;
override TILE: u32 = 2u;
override ALPHA: u32 = TILE + 2u;
override M_STRIDE: u32;               // ALPHA^2 + 1, set by winograd.ts (see winograd_gemm)
override RELU: bool = false;
override BIAS: bool = true;
override POOL: bool = false;
override ARGMAX: bool = false;
override STORE_Y: bool = true;

alias Line = array<vec4f, 8>;
alias Outputs = array<vec4f, 6>;
alias Tile = array<array<f32, 6>, 6>;

/** A^T l for one line l of the products (TILE values), 4 tiles at once. */
fn outputLine(l: Line) -> Outputs {
  if (TILE == 2u) {
    return Outputs(l[0] + l[1] + l[2], l[1] - l[2] - l[3], vec4f(), vec4f(), vec4f(), vec4f());
  }
  if (TILE == 4u) {
    return Outputs(l[0] + l[1] + l[2] + l[3] + l[4],
                   l[1] - l[2] + 2.0 * (l[3] - l[4]),
                   l[1] + l[2] + 4.0 * (l[3] + l[4]),
                   l[1] - l[2] + 8.0 * (l[3] - l[4]) + l[5], vec4f(), vec4f());
  }
  let a = l[1] + l[2];
  let b = l[1] - l[2];
  let c = l[3] + l[4];
  let d = l[3] - l[4];
  let e = l[5] + l[6];
  let f = l[5] - l[6];
  return Outputs(l[0] + a + c + e, b + 2.0 * d + 0.5 * f, a + 4.0 * c + 0.25 * e,
                 b + 8.0 * d + 0.125 * f, a + 16.0 * c + 0.0625 * e, b + 32.0 * d + 0.03125 * f + l[7]);
}

fn activation(v: f32) -> f32 {
  return select(v, max(v, 0.0), RELU);
}

/** The epilogue of tile t: out[r][q] is its output (r, q), bias added. */
fn store(co: u32, t: u32, out: Tile) {
  let tx = t % p.tW;
  let ty = (t / p.tW) % p.tH;
  let n = t / (p.tW * p.tH);
  let oy0 = ty * TILE;
  let ox0 = tx * TILE;
  if (STORE_Y) {
    let base = (n * p.Co + co) * p.Ho * p.Wo;
    for (var r = 0u; r < TILE; r++) {
      for (var q = 0u; q < TILE; q++) {
        if (oy0 + r < p.Ho && ox0 + q < p.Wo) { y[base + (oy0 + r) * p.Wo + ox0 + q] = activation(out[r][q]); }
      }
    }
  }
  if (POOL) {
    let Hp = p.Ho / 2u;
    let Wp = p.Wo / 2u;
    let pooledBase = (n * p.Co + co) * Hp * Wp;
    for (var r = 0u; r < TILE / 2u; r++) {
      for (var q = 0u; q < TILE / 2u; q++) {
        let py = oy0 / 2u + r;
        let px = ox0 / 2u + q;
        if (py < Hp && px < Wp) {
          let v = array<f32, 4>(out[2u * r][2u * q], out[2u * r][2u * q + 1u], out[2u * r + 1u][2u * q], out[2u * r + 1u][2u * q + 1u]);
          var best = 0u;
          for (var k = 1u; k < 4u; k++) { if (v[k] > v[best]) { best = k; } }
          let o = pooledBase + py * Wp + px;
          pooled[o] = activation(v[best]);
          if (ARGMAX) { argmax[o] = select(4u, best, v[best] > 0.0); }
        }
      }
    }
  }
}

/** Tile j (0..3) of the quad's outputs (TILE x TILE of the 6 x 6 array). */
fn tileOf(out: array<Outputs, 6>, j: u32, bias: f32) -> Tile {
  var o: Tile;
  for (var r = 0u; r < TILE; r++) {
    for (var q = 0u; q < TILE; q++) { o[r][q] = out[r][q][j] + bias; }
  }
  return o;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let TQ = p.TPc / 4u;
  let quads = (p.Tc + 3u) / 4u;
  if (i >= p.Co * quads) { return; }
  let quad = i % quads;
  let co = i / quads;
  // Rows first (M A: ALPHA x TILE), each as soon as it is loaded (holding all ALPHA^2 products
  // first spilled: 50-53 against 44-47 ms for this kernel at F(6x6), N=16, 109x109, 64
  // channels), then columns (A^T (M A)): out[r][q] holds output (r, q) of the 4 tiles.
  var rows: array<Outputs, 8>;
  for (var r = 0u; r < ALPHA; r++) {
    var line: Line;
    for (var q = 0u; q < ALPHA; q++) { line[q] = m[(co * TQ + quad) * M_STRIDE + r * ALPHA + q]; }
    rows[r] = outputLine(line);
  }
  var out: array<Outputs, 6>;
  for (var q = 0u; q < TILE; q++) {
    let col = outputLine(Line(rows[0][q], rows[1][q], rows[2][q], rows[3][q], rows[4][q], rows[5][q], rows[6][q], rows[7][q]));
    for (var r = 0u; r < TILE; r++) { out[r][q] = col[r]; }
  }
  let bias = select(0.0, b[co], BIAS);
  let t = p.tileBase + 4u * quad;
  store(co, t, tileOf(out, 0u, bias));
  if (4u * quad + 1u < p.Tc) { store(co, t + 1u, tileOf(out, 1u, bias)); }
  if (4u * quad + 2u < p.Tc) { store(co, t + 2u, tileOf(out, 2u, bias)); }
  if (4u * quad + 3u < p.Tc) { store(co, t + 3u, tileOf(out, 3u, bias)); }
}
