// winograd_gemm_shallow — winograd_gemm for a shallow sum (at most 32 input channels) into many
// output channels (64 or more): the same products, one GEMM per transform position xi,
//   M[co, t, xi] = sum_ci U[xi, co, ci] * V[xi, ci, t]
// with 8 output channels per lane (co, co + WG, ...) over blocks of 8 tiles.
// Why a second kernel: on a CPU driver (lavapipe) a private array is read at per-lane
// addresses even where the index is the same in every lane, so winograd_gemm's weights array
// costs a gather per float. Here each group of 4 input channels has its weights in a value of
// its own (w0 .. w7, all indices constants), and with 8 channels per lane one subgroup spans
// 64 output channels, so each V value is loaded once for all of them: one vec4 load per lane
// and 4 input channels, handed round by 8 broadcasts, feeds 256 multiply-adds. At N=16,
// 32->64, 111x111, F(6x6), the GEMM alone: 39-46 ms against winograd_gemm's 47-58 (same runs).
// With 64 input channels (16 values) it was no faster, and with 32 output channels slower.
// Layout and grid as winograd_gemm: U [ALPHA^2, Ci4, CoP] of vec4 over 4 input channels;
// V [ALPHA^2, 4*Ci4, TPc/4] and M [CoP, TPc/4, M_STRIDE] of vec4 over 4 tiles. Needs subgroups
// of >= 8 lanes. Grid: x = xi, y = block of 8 * WG channels, z = run of BLOCKS blocks.
enable subgroups;

struct Params { Ci4: u32, CoP: u32, TPc: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<vec4f>;
@group(0) @binding(2) var<storage, read> v: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> m: array<vec4f>;

override WG: u32 = 8;
override BLOCKS: u32 = 16u;
override K4: u32 = 8u;          // groups of 4 input channels, 1..MAX_K4
override TILE: u32 = 2u;
override ALPHA: u32 = TILE + 2u;
override M_STRIDE: u32;               // ALPHA^2 + 1, set by winograd.ts (see winograd_gemm)
const MAX_K4 = 8u;
const CO_PER_LANE = 8u;
const QUADS = 2u;               // a block's 8 tiles as 2 vec4s

/** Lane's weights for input channels 4k .. 4k+3: [a] is channel co + a*WG (clamped past CoP: computed, never stored). */
alias Weights = array<vec4f, CO_PER_LANE>;
/** [QUADS * a + q]: channel co + a*WG, tiles 4q .. 4q+3 of the block. */
alias Sums = array<vec4f, CO_PER_LANE * QUADS>;

fn weights(xi: u32, k: u32, co: u32) -> Weights {
  var w: Weights;
  let ub = (xi * p.Ci4 + min(k, K4 - 1u)) * p.CoP;
  for (var a = 0u; a < CO_PER_LANE; a++) { w[a] = u[ub + min(co + a * WG, p.CoP - 1u)]; }
  return w;
}

/** Adds 4 input channels' products; lane l loaded (channel l/2, tile quad l%2) of them at vb. */
fn step(acc: ptr<function, Sums>, w: Weights, vb: u32) {
  let own = v[vb];
  // t[c][q]: input channel c of the group, tile quad q, in every lane.
  let t = array<array<vec4f, QUADS>, 4>(
    array<vec4f, QUADS>(subgroupBroadcast(own, 0u), subgroupBroadcast(own, 1u)),
    array<vec4f, QUADS>(subgroupBroadcast(own, 2u), subgroupBroadcast(own, 3u)),
    array<vec4f, QUADS>(subgroupBroadcast(own, 4u), subgroupBroadcast(own, 5u)),
    array<vec4f, QUADS>(subgroupBroadcast(own, 6u), subgroupBroadcast(own, 7u)));
  for (var c = 0u; c < 4u; c++) {
    for (var q = 0u; q < QUADS; q++) {
      for (var a = 0u; a < CO_PER_LANE; a++) { (*acc)[QUADS * a + q] += w[a][c] * t[c][q]; }
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sgLane: u32,
        @builtin(workgroup_id) wid: vec3u) {
  let co = wid.y * WG * CO_PER_LANE + lane;
  let xi = wid.x;
  let loader = sgLane % 8u;
  let TQ = p.TPc / 4u;
  let w0 = weights(xi, 0u, co);
  let w1 = weights(xi, 1u, co);
  let w2 = weights(xi, 2u, co);
  let w3 = weights(xi, 3u, co);
  let w4 = weights(xi, 4u, co);
  let w5 = weights(xi, 5u, co);
  let w6 = weights(xi, 6u, co);
  let w7 = weights(xi, 7u, co);
  for (var block = 0u; block < BLOCKS; block++) {
    let quad0 = (wid.z * BLOCKS + block) * QUADS;
    if (quad0 >= TQ) { break; }
    var acc = Sums();
    // Group k starts 4k input channels on: 4k * TQ vec4s further.
    let vb = (xi * 4u * p.Ci4 + loader / QUADS) * TQ + quad0 + loader % QUADS;
    step(&acc, w0, vb);
    if (K4 > 1u) { step(&acc, w1, vb + 4u * TQ); }
    if (K4 > 2u) { step(&acc, w2, vb + 8u * TQ); }
    if (K4 > 3u) { step(&acc, w3, vb + 12u * TQ); }
    if (K4 > 4u) { step(&acc, w4, vb + 16u * TQ); }
    if (K4 > 5u) { step(&acc, w5, vb + 20u * TQ); }
    if (K4 > 6u) { step(&acc, w6, vb + 24u * TQ); }
    if (K4 > 7u) { step(&acc, w7, vb + 28u * TQ); }
    for (var a = 0u; a < CO_PER_LANE; a++) {
      let c = co + a * WG;
      if (c >= p.CoP) { break; }
      for (var q = 0u; q < QUADS; q++) { m[(c * TQ + quad0 + q) * M_STRIDE + xi] = acc[QUADS * a + q]; }
    }
  }
}
