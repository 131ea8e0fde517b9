// conv2d_subgroup — direct 3x3 convolution with the output channels across the lanes and a
// 4x8 output tile shared by the workgroup, whose 6x10 input window is loaded once per
// subgroup and handed round with subgroupBroadcast.
//   y[n,co,oy,ox] = act( b[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] * x[n,ci,oy+ky-PAD,ox+kx-PAD] )
// x outside the image reads as 0 (PAD=0: forward; PAD=2: grad-input with flipped weights).
// Layout: x NCHW [N,Ci,H,W]; wq [Ci, CoP, 3] of vec4 (conv2d_pack_taps: one lane's 9 taps
// in 3 loads); b [Co]; y NCHW [N,Co,Ho,Wo], Ho = H+2*PAD-2.
// Why: on a CPU driver (lavapipe, Mesa 25.0) every storage-buffer load is a loop over the
// SIMD lanes with a bounds check per lane, whatever the address, while a broadcast from a
// constant lane is one shuffle. Here the 60 window inputs cost 8 lane-loads (lane l loads
// element 8*round + l) instead of 60, and each lane's 9 weights 3 vec4 loads, for 288
// multiply-adds per input channel. Needs subgroups of >= 8 lanes (lanes past 8 load
// duplicates); on a GPU the same shape is a broadcast-friendly register tile.
// Grid: x = column tile, y = row tile, z = n * channelBlocks + channel block.
enable subgroups;

struct Params { N: u32, Ci: u32, H: u32, W: u32, Co: u32, Ho: u32, Wo: u32, CoP: u32, channelBlocks: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wq: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 32;
override PAD: u32 = 0;
override RELU: bool = false;
override BIAS: bool = true;

// The tile. Larger ones measured faster on their own (4x16: 22-26 GFLOP/s) but as override
// constants the compiler stops unrolling their loops (4x16: 4.6), and they waste more of
// small maps.
const TILE_ROWS = 4u;
const TILE_COLS = 8u;
const WINDOW_COLS = 10u;  // TILE_COLS + 2
const WINDOW = 60u;       // (TILE_ROWS + 2) * WINDOW_COLS
const BLOCKS = 2u;        // vec4 accumulators per tile row

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

/** acc + one kernel row (w0 w1 w2) applied at window offset i for 4 adjacent outputs. */
fn taps(acc: vec4f, win: ptr<function, array<f32, 64>>, i: u32, w0: f32, w1: f32, w2: f32) -> vec4f {
  let a = fma(vec4f(w0), vec4f((*win)[i], (*win)[i + 1u], (*win)[i + 2u], (*win)[i + 3u]), acc);
  let b = fma(vec4f(w1), vec4f((*win)[i + 1u], (*win)[i + 2u], (*win)[i + 3u], (*win)[i + 4u]), a);
  return fma(vec4f(w2), vec4f((*win)[i + 2u], (*win)[i + 3u], (*win)[i + 4u], (*win)[i + 5u]), b);
}

/** acc + the 3x3 kernel at output (row, column block cb) of the tile. */
fn kernel3x3(acc: vec4f, win: ptr<function, array<f32, 64>>, row: u32, cb: u32, wa: vec4f, wb: vec4f, wc: vec4f) -> vec4f {
  let i = row * WINDOW_COLS + cb * 4u;
  let a = taps(acc, win, i, wa.x, wa.y, wa.z);
  let b = taps(a, win, i + WINDOW_COLS, wa.w, wb.x, wb.y);
  return taps(b, win, i + 2u * WINDOW_COLS, wb.z, wb.w, wc.x);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sgLane: u32,
        @builtin(workgroup_id) wid: vec3u) {
  let ox0 = wid.x * TILE_COLS;
  let oy0 = wid.y * TILE_ROWS;
  let n = wid.z / p.channelBlocks;
  let co = (wid.z % p.channelBlocks) * WG + lane;
  let wco = min(co, p.CoP - 1u);
  let loader = sgLane % 8u;
  let iy0 = i32(oy0) - i32(PAD);
  let ix0 = i32(ox0) - i32(PAD);

  // acc[BLOCKS*row + cb] holds output row `row`, columns 4*cb .. 4*cb+3 of the tile.
  var acc: array<vec4f, 8>;
  let bias = select(0.0, b[min(co, p.Co - 1u)], BIAS);
  for (var i = 0u; i < TILE_ROWS * BLOCKS; i++) { acc[i] = vec4f(bias); }
  var win: array<f32, 64>;
  for (var ci = 0u; ci < p.Ci; ci++) {
    let t = (ci * p.CoP + wco) * 3u;
    let wa = wq[t];
    let wb = wq[t + 1u];
    let wc = wq[t + 2u];
    let plane = (n * p.Ci + ci) * p.H;
    for (var r = 0u; r < (WINDOW + 7u) / 8u; r++) {
      let got = spread(windowElement(plane, iy0, ix0, loader, r));
      for (var l = 0u; l < 8u; l++) { win[8u * r + l] = got[l]; }
    }
    for (var row = 0u; row < TILE_ROWS; row++) {
      for (var cb = 0u; cb < BLOCKS; cb++) {
        acc[BLOCKS * row + cb] = kernel3x3(acc[BLOCKS * row + cb], &win, row, cb, wa, wb, wc);
      }
    }
  }
  if (co >= p.Co) { return; }
  let base = (n * p.Co + co) * p.Ho * p.Wo;
  for (var row = 0u; row < TILE_ROWS; row++) {
    let oy = oy0 + row;
    if (oy >= p.Ho) { break; }
    for (var j = 0u; j < TILE_COLS; j++) {
      if (ox0 + j >= p.Wo) { break; }
      var v = acc[BLOCKS * row + j / 4u][j % 4u];
      if (RELU) { v = max(v, 0.0); }
      y[base + oy * p.Wo + ox0 + j] = v;
    }
  }
}
