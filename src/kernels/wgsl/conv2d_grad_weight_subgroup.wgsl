// conv2d_grad_weight_subgroup — weight and bias gradients with the output channels across
// the lanes; the long reduction (K = N*Ho*Wo) is split into slices of 2-row chunks that
// sum_slices adds up.
//   part[s,co,ci,ky,kx] = sum_{(n,oy,ox) in slice s} dy[n,co,oy,ox] * x[n,ci,oy+ky,ox+kx]
//   partBias[s,co]      = sum_{(n,oy,ox) in slice s} dy[n,co,oy,ox]   (the dy this pass loads anyway)
// Layout: x NCHW [N,Ci,H,W]; dy NCHW [N,Co,Ho,Wo] (Ho = H-2); part [S,Co,Ci,3,3]; partBias [S,Co].
// Each lane owns CO_PER_LANE output channels (co and co + WG) x 4 input channels x 9 taps.
// Per 2x4 block of outputs it loads its own 8 dy values per channel, and per input channel
// the block's 4x6 input window once per subgroup (3 lane-loads, passed round with
// subgroupBroadcast; see conv2d_subgroup.wgsl for why) for 72 multiply-adds per channel.
// Why two channels: each broadcast window value then feeds twice the multiply-adds (at
// N=16, Ci=32, 111x111, Co=64: lavapipe 36 instead of 30 GFLOP/s, H200 11.8 instead of 10.2 TFLOP/s).
// Needs subgroups of >= 8 lanes.
// Grid: x = block of 4 input channels, y = block of WG * CO_PER_LANE output channels, z = slice.
enable subgroups;

struct Params { N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, chunksPerSlice: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;
@group(0) @binding(4) var<storage, read_write> partBias: array<f32>;

override WG: u32 = 32;
override CO_PER_LANE: u32 = 1u;  // 1 or 2

const CHUNK_ROWS = 2u;
const CHUNK_COLS = 4u;
const WINDOW_COLS = 6u;  // CHUNK_COLS + 2
const WINDOW = 24u;      // (CHUNK_ROWS + 2) * WINDOW_COLS
const CI_BLOCK = 4u;

alias Taps = array<array<f32, 9>, CI_BLOCK>;  // [c][3*ky + kx]: input channel ci0 + c

/** This lane's share of round `round` of the window at (oy0, ox0), clamped into the image
 *  (what lies past the edge only meets dy = 0). */
fn windowElement(plane: u32, oy0: u32, ox0: u32, lane: u32, round: u32) -> f32 {
  let e = min(8u * round + lane, WINDOW - 1u);
  let iy = min(oy0 + e / WINDOW_COLS, p.H - 1u);
  let ix = min(ox0 + e % WINDOW_COLS, p.W - 1u);
  return x[(plane + iy) * p.W + ix];
}

/** The 8 values lanes 0..7 loaded, now in every lane. */
fn spread(v: f32) -> array<f32, 8> {
  return array<f32, 8>(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u),
                       subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}

fn dyAt(base: u32, oy: u32, ox: u32) -> f32 {
  let inside = oy < p.Ho && ox < p.Wo;
  return select(0.0, dy[base + min(oy, p.Ho - 1u) * p.Wo + min(ox, p.Wo - 1u)], inside);
}

/** One channel's dy over the 2x4 block at (oy0, ox0): rows as two vec4s. */
fn dyBlock(co: u32, n: u32, oy0: u32, ox0: u32) -> array<vec4f, 2> {
  let base = (n * p.Co + min(co, p.Co - 1u)) * p.Ho * p.Wo;
  return array<vec4f, 2>(
    vec4f(dyAt(base, oy0, ox0), dyAt(base, oy0, ox0 + 1u), dyAt(base, oy0, ox0 + 2u), dyAt(base, oy0, ox0 + 3u)),
    vec4f(dyAt(base, oy0 + 1u, ox0), dyAt(base, oy0 + 1u, ox0 + 1u), dyAt(base, oy0 + 1u, ox0 + 2u), dyAt(base, oy0 + 1u, ox0 + 3u)));
}

fn windowQuad(win: ptr<function, array<f32, 24>>, i: u32) -> vec4f {
  return vec4f((*win)[i], (*win)[i + 1u], (*win)[i + 2u], (*win)[i + 3u]);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sgLane: u32,
        @builtin(workgroup_id) wid: vec3u) {
  let ci0 = wid.x * CI_BLOCK;
  let coA = wid.y * WG * CO_PER_LANE + lane;
  let coB = coA + WG;  // used when CO_PER_LANE == 2
  let loader = sgLane % 8u;
  let rowChunks = (p.Ho + CHUNK_ROWS - 1u) / CHUNK_ROWS;
  let chunkBegin = wid.z * p.chunksPerSlice;
  let chunkEnd = min(chunkBegin + p.chunksPerSlice, p.N * rowChunks);

  var accA: Taps;
  var accB: Taps;
  for (var c = 0u; c < CI_BLOCK; c++) { for (var t = 0u; t < 9u; t++) { accA[c][t] = 0.0; accB[c][t] = 0.0; } }
  var biasA = 0.0;
  var biasB = 0.0;
  var win: array<f32, 24>;
  for (var q = chunkBegin; q < chunkEnd; q++) {
    let n = q / rowChunks;
    let oy0 = (q % rowChunks) * CHUNK_ROWS;
    for (var ox0 = 0u; ox0 < p.Wo; ox0 += CHUNK_COLS) {
      let a = dyBlock(coA, n, oy0, ox0);
      biasA += dot(a[0] + a[1], vec4f(1.0));
      var b = array<vec4f, 2>(vec4f(0.0), vec4f(0.0));
      if (CO_PER_LANE == 2u) {
        b = dyBlock(coB, n, oy0, ox0);
        biasB += dot(b[0] + b[1], vec4f(1.0));
      }
      for (var c = 0u; c < CI_BLOCK; c++) {
        let plane = (n * p.Ci + min(ci0 + c, p.Ci - 1u)) * p.H;
        for (var r = 0u; r < 3u; r++) {
          let got = spread(windowElement(plane, oy0, ox0, loader, r));
          for (var l = 0u; l < 8u; l++) { win[8u * r + l] = got[l]; }
        }
        for (var ky = 0u; ky < 3u; ky++) {
          for (var kx = 0u; kx < 3u; kx++) {
            let i = ky * WINDOW_COLS + kx;
            let top = windowQuad(&win, i);
            let bottom = windowQuad(&win, i + WINDOW_COLS);
            accA[c][3u * ky + kx] += dot(a[0], top) + dot(a[1], bottom);
            if (CO_PER_LANE == 2u) { accB[c][3u * ky + kx] += dot(b[0], top) + dot(b[1], bottom); }
          }
        }
      }
    }
  }
  store(wid, coA, ci0, biasA, &accA);
  if (CO_PER_LANE == 2u) { store(wid, coB, ci0, biasB, &accB); }
}

fn store(wid: vec3u, co: u32, ci0: u32, bias: f32, acc: ptr<function, Taps>) {
  if (co >= p.Co) { return; }
  if (wid.x == 0u) { partBias[wid.z * p.Co + co] = bias; }
  let slice = wid.z * p.Co * p.Ci * 9u;
  for (var c = 0u; c < CI_BLOCK; c++) {
    if (ci0 + c >= p.Ci) { break; }
    let o = slice + (co * p.Ci + ci0 + c) * 9u;
    for (var t = 0u; t < 9u; t++) { part[o + t] = (*acc)[c][t]; }
  }
}
