// conv2d_subgroup — direct 3x3 convolution with the output channels across the lanes and a
// 4x8 or 4x16 output tile shared by the workgroup, whose input window is loaded once per
// subgroup and handed round with subgroupBroadcast.
//   y[n,co,oy,ox] = act( b[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci,oy+ky-PAD,ox+kx-PAD] )
// x outside the image reads as 0 (PAD=0: forward; PAD=2: grad-input with flipped weights).
// Layout: x NCHW [N,Ci,H,W]; wq [Ci, CoP, 3] of vec4 (conv2d_pack_taps: one lane's 9 taps
// in 3 loads); b [Co]; y NCHW [N,Co,Ho,Wo], Ho = H+2*PAD-2.
// Why: on a CPU driver (lavapipe, Mesa 25.0) every storage-buffer load is a loop over the
// SIMD lanes with a bounds check per lane, whatever the address, while a broadcast from a
// constant lane is one shuffle. Here the 6x10 window's 60 inputs cost 8 lane-loads (lane l
// loads element 8*round + l) instead of 60, and each lane's 9 weights 3 vec4 loads, for 288
// multiply-adds per input channel (4x16: 14 + 3 loads for 576; 4x4: 5 + 3 for 144). With
// CO_PER_LANE = 2 (the launcher's choice on a CPU driver) a lane also computes channel co + WG
// on a 4x8 tile: 8 + 6 loads and 64 broadcasts for 576. Needs subgroups of >= 8 lanes (lanes
// past 8 load duplicates); on a GPU the same shape is a broadcast-friendly register tile.
// Grid: x = column tile, y = row tile, z = n * channelBlocks + channel block (of WG * CO_PER_LANE).
enable subgroups;

struct Params { N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, CoP: u32, channelBlocks: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wq: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// POOL: also the 2x2 max-pool of y (floor) [N,Co,Ho/2,Wo/2]; tiles start at even rows and
// columns, so every window lies in one tile. ARGMAX (with RELU): where each maximum lies,
// as maxpool2_relu_argmax records it, for the backward. STORE_Y = false skips y (a pooled
// conv's backward needs only the argmax). An output not written is a 4-byte placeholder.
@group(0) @binding(5) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(6) var<storage, read_write> argmax: array<u32>;

override WG: u32 = 32;
override PAD: u32 = 0;
override RELU: bool = false;
override BIAS: bool = true;
override POOL: bool = false;
override ARGMAX: bool = false;
override STORE_Y: bool = true;

// The tile: 4 rows of TILE_COLS = 4, 8 or 16 columns (wider is faster per output, narrower
// wastes less of small maps). The statements over it are written out, each guarded by a
// constant, not looped: the compiler does not unroll loops that long, and a rolled loop
// indexes the arrays dynamically (4.5 instead of 22 GFLOP/s on lavapipe).
const TILE_ROWS = 4u;
override TILE_COLS: u32 = 8u;
override WINDOW_COLS: u32 = TILE_COLS + 2u;
override WINDOW: u32 = (TILE_ROWS + 2u) * WINDOW_COLS;  // 36, 60 or 108 inputs
override ROUNDS: u32 = (WINDOW + 7u) / 8u;  // 5, 8 or 14 rounds of 8 inputs
override BLOCKS: u32 = TILE_COLS / 4u;      // vec4 accumulators per tile row and channel
// Output channels per lane: co and co + WG. A second channel doubles the multiply-adds each
// broadcast window value feeds; its accumulators take the row's spare slots, so
// CO_PER_LANE * BLOCKS <= 4 (a 4x16 tile has room for one channel, 4x8 and 4x4 for two).
override CO_PER_LANE: u32 = 1u;
override SLOTS: u32 = CO_PER_LANE * BLOCKS;  // accumulators per tile row

/** This lane's share of round `round` of the window: element 8*round + lane, 0 outside the image. */
fn windowElement(plane: u32, iy0: i32, ix0: i32, lane: u32, round: u32) -> f32 {
  let e = min(8u * round + lane, WINDOW - 1u);
  let iy = iy0 + i32(e / WINDOW_COLS);
  let ix = ix0 + i32(e % WINDOW_COLS);
  let inside = iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W);
  let i = (plane + u32(clamp(iy, 0, i32(p.H) - 1))) * p.W + u32(clamp(ix, 0, i32(p.W) - 1));
  return select(0.0, x[i], inside);
}

/** The 8 values lanes 0..7 loaded, now in every lane. */
fn spread(v: f32) -> array<f32, 8> {
  return array<f32, 8>(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u),
                       subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}

alias Window = array<array<f32, 8>, 14>;  // element e is [e / 8][e % 8]

fn quad(win: ptr<function, Window>, e: u32) -> vec4f {
  return vec4f((*win)[e / 8u][e % 8u], (*win)[(e + 1u) / 8u][(e + 1u) % 8u], (*win)[(e + 2u) / 8u][(e + 2u) % 8u], (*win)[(e + 3u) / 8u][(e + 3u) % 8u]);
}

/** acc + one kernel row (w0 w1 w2) applied at window offset i for 4 adjacent outputs. */
fn taps(acc: vec4f, win: ptr<function, Window>, i: u32, w0: f32, w1: f32, w2: f32) -> vec4f {
  let a = fma(vec4f(w0), quad(win, i), acc);
  let b = fma(vec4f(w1), quad(win, i + 1u), a);
  return fma(vec4f(w2), quad(win, i + 2u), b);
}

/** One lane's 9 taps of one input channel, as conv2d_pack_taps packs them: rows a.xyz, a.w b.xy, b.zw c.x. */
struct Taps { a: vec4f, b: vec4f, c: vec4f }

/** acc + the 3x3 kernel at output (row, column block cb) of the tile. */
fn kernel3x3(acc: vec4f, win: ptr<function, Window>, row: u32, cb: u32, w: Taps) -> vec4f {
  let i = row * WINDOW_COLS + cb * 4u;
  let a = taps(acc, win, i, w.a.x, w.a.y, w.a.z);
  let b = taps(a, win, i + WINDOW_COLS, w.a.w, w.b.x, w.b.y);
  return taps(b, win, i + 2u * WINDOW_COLS, w.b.z, w.b.w, w.c.x);
}

/** Slot j of tile row `row` after one more input channel: channel j / BLOCKS (first, then
 *  second), column block j % BLOCKS. j is a constant, so the choice folds away. */
fn slot(acc: vec4f, win: ptr<function, Window>, row: u32, j: u32, first: Taps, second: Taps) -> vec4f {
  var w = first;
  if (j >= BLOCKS) { w = second; }
  return kernel3x3(acc, win, row, j % BLOCKS, w);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sgLane: u32,
        @builtin(workgroup_id) wid: vec3u) {
  let ox0 = wid.x * TILE_COLS;
  let oy0 = wid.y * TILE_ROWS;
  let n = wid.z / p.channelBlocks;
  let co = (wid.z % p.channelBlocks) * WG * CO_PER_LANE + lane;
  let wco = min(co, p.CoP - 1u);
  let wco2 = min(co + WG, p.CoP - 1u);
  let loader = sgLane % 8u;
  let iy0 = i32(oy0) - i32(PAD);
  let ix0 = i32(ox0) - i32(PAD);

  // acc[4*row + j] holds output row `row` of channel j / BLOCKS (co, then co + WG), columns
  // 4*(j % BLOCKS) .. +3 of the tile.
  var acc: array<vec4f, 16>;
  let bias = vec4f(select(0.0, b[min(co, p.Co - 1u)], BIAS));
  let bias2 = vec4f(select(0.0, b[min(co + WG, p.Co - 1u)], BIAS && CO_PER_LANE > 1u));
  let s1 = select(bias, bias2, 1u >= BLOCKS);
  let s2 = select(bias, bias2, 2u >= BLOCKS);
  let s3 = select(bias, bias2, 3u >= BLOCKS);
  acc = array<vec4f, 16>(bias, s1, s2, s3, bias, s1, s2, s3, bias, s1, s2, s3, bias, s1, s2, s3);
  var win: Window;
  for (var ci = 0u; ci < p.Ci; ci++) {
    let t = (ci * p.CoP + wco) * 3u;
    let w = Taps(wq[t], wq[t + 1u], wq[t + 2u]);
    var w2 = w;
    if (CO_PER_LANE > 1u) {
      let t2 = (ci * p.CoP + wco2) * 3u;
      w2 = Taps(wq[t2], wq[t2 + 1u], wq[t2 + 2u]);
    }
    let plane = (n * p.Ci + ci) * p.H;
    if (0u < ROUNDS) { win[0] = spread(windowElement(plane, iy0, ix0, loader, 0u)); }
    if (1u < ROUNDS) { win[1] = spread(windowElement(plane, iy0, ix0, loader, 1u)); }
    if (2u < ROUNDS) { win[2] = spread(windowElement(plane, iy0, ix0, loader, 2u)); }
    if (3u < ROUNDS) { win[3] = spread(windowElement(plane, iy0, ix0, loader, 3u)); }
    if (4u < ROUNDS) { win[4] = spread(windowElement(plane, iy0, ix0, loader, 4u)); }
    if (5u < ROUNDS) { win[5] = spread(windowElement(plane, iy0, ix0, loader, 5u)); }
    if (6u < ROUNDS) { win[6] = spread(windowElement(plane, iy0, ix0, loader, 6u)); }
    if (7u < ROUNDS) { win[7] = spread(windowElement(plane, iy0, ix0, loader, 7u)); }
    if (8u < ROUNDS) { win[8] = spread(windowElement(plane, iy0, ix0, loader, 8u)); }
    if (9u < ROUNDS) { win[9] = spread(windowElement(plane, iy0, ix0, loader, 9u)); }
    if (10u < ROUNDS) { win[10] = spread(windowElement(plane, iy0, ix0, loader, 10u)); }
    if (11u < ROUNDS) { win[11] = spread(windowElement(plane, iy0, ix0, loader, 11u)); }
    if (12u < ROUNDS) { win[12] = spread(windowElement(plane, iy0, ix0, loader, 12u)); }
    if (13u < ROUNDS) { win[13] = spread(windowElement(plane, iy0, ix0, loader, 13u)); }
    if (0u < SLOTS) { acc[0] = slot(acc[0], &win, 0u, 0u, w, w2); }
    if (1u < SLOTS) { acc[1] = slot(acc[1], &win, 0u, 1u, w, w2); }
    if (2u < SLOTS) { acc[2] = slot(acc[2], &win, 0u, 2u, w, w2); }
    if (3u < SLOTS) { acc[3] = slot(acc[3], &win, 0u, 3u, w, w2); }
    if (0u < SLOTS) { acc[4] = slot(acc[4], &win, 1u, 0u, w, w2); }
    if (1u < SLOTS) { acc[5] = slot(acc[5], &win, 1u, 1u, w, w2); }
    if (2u < SLOTS) { acc[6] = slot(acc[6], &win, 1u, 2u, w, w2); }
    if (3u < SLOTS) { acc[7] = slot(acc[7], &win, 1u, 3u, w, w2); }
    if (0u < SLOTS) { acc[8] = slot(acc[8], &win, 2u, 0u, w, w2); }
    if (1u < SLOTS) { acc[9] = slot(acc[9], &win, 2u, 1u, w, w2); }
    if (2u < SLOTS) { acc[10] = slot(acc[10], &win, 2u, 2u, w, w2); }
    if (3u < SLOTS) { acc[11] = slot(acc[11], &win, 2u, 3u, w, w2); }
    if (0u < SLOTS) { acc[12] = slot(acc[12], &win, 3u, 0u, w, w2); }
    if (1u < SLOTS) { acc[13] = slot(acc[13], &win, 3u, 1u, w, w2); }
    if (2u < SLOTS) { acc[14] = slot(acc[14], &win, 3u, 2u, w, w2); }
    if (3u < SLOTS) { acc[15] = slot(acc[15], &win, 3u, 3u, w, w2); }
  }
  for (var c = 0u; c < CO_PER_LANE; c++) {
    let coc = co + c * WG;
    if (coc >= p.Co) { break; }
    let slot0 = c * BLOCKS;
    let base = (n * p.Co + coc) * p.Ho * p.Wo;
    for (var row = 0u; row < TILE_ROWS && STORE_Y; row++) {
      let oy = oy0 + row;
      if (oy >= p.Ho) { break; }
      for (var j = 0u; j < TILE_COLS; j++) {
        if (ox0 + j >= p.Wo) { break; }
        y[base + oy * p.Wo + ox0 + j] = activation(acc[4u * row + slot0 + j / 4u][j % 4u]);
      }
    }
    if (POOL) {
      let Hp = p.Ho / 2u;
      let Wp = p.Wo / 2u;
      let pooledBase = (n * p.Co + coc) * Hp * Wp;
      for (var i = 0u; i < TILE_ROWS / 2u; i++) {
        let py = oy0 / 2u + i;
        if (py >= Hp) { break; }
        for (var j = 0u; j < TILE_COLS / 2u; j++) {
          let px = ox0 / 2u + j;
          if (px >= Wp) { break; }
          let top = acc[8u * i + slot0 + j / 2u];
          let bottom = acc[8u * i + 4u + slot0 + j / 2u];
          let k = 2u * (j % 2u);
          let v = array<f32, 4>(top[k], top[k + 1u], bottom[k], bottom[k + 1u]);
          var best = 0u;
          for (var q = 1u; q < 4u; q++) { if (v[q] > v[best]) { best = q; } }
          let o = pooledBase + py * Wp + px;
          pooled[o] = activation(v[best]);
          if (ARGMAX) { argmax[o] = select(4u, best, v[best] > 0.0); }
        }
      }
    }
  }
}

fn activation(v: f32) -> f32 {
  return select(v, max(v, 0.0), RELU);
}
