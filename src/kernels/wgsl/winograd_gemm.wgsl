// winograd_gemm — the element-wise products of F(m x m, 3x3), summed over input channels: one
// GEMM per transform position xi (ALPHA^2 of them, grid x):
//   M[co, t, xi] (+)= sum_{ci in this launch's K chunk} U[xi, co, ci] * V[xi, ci, t]
// Output channels across the lanes (CO_PER_LANE each: co, co + WG, ...), blocks of 16 tiles.
// Why this shape: on a CPU driver (lavapipe) every storage load and store costs a loop over the
// SIMD lanes with a bounds check per float, while registers, the stack and a broadcast from a
// constant lane are cheap. So each lane loads its U (K4 vec4 per channel) once and keeps it
// while the workgroup walks BLOCKS blocks of 16 tiles; per 4 input channels lanes 0..7 then make
// two vec4 loads of V (4 channels x 16 tiles) that 16 broadcasts hand round, for
// 64 * CO_PER_LANE multiply-adds. (Loading U per block instead: 123 against 67 ms at N=16,
// 32->64, 111x111, F(4x4).) Needs subgroups of >= 8 lanes. winograd_gemm_shallow does the same
// for at most 32 input channels into 64 or more output channels.
// Layout: U [ALPHA^2, Ci4, CoP] of vec4 over 4 input channels (winograd_weights);
// V [ALPHA^2, 4*Ci4, TPc/4] of vec4 over 4 tiles (winograd_input); M [CoP, TPc/4, M_STRIDE] of
// vec4 over 4 tiles. M keeps the ALPHA^2 products of one channel and 4 tiles together, so
// winograd_output reads them in one run: with M [ALPHA^2, CoP, TPc/4] it read ALPHA^2 streams
// half a megabyte apart, and took 43-46 ms instead of 27 at F(6x6), N=16, 109x109, 64
// channels. M_STRIDE is one more than ALPHA^2 because a power-of-two stride put the lanes'
// stores into the same cache sets (at 128->256 channels, 26x26: 0.92-1.25x the old layout's
// time from one process to the next, 0.92-1.04x with the extra vec4).
// The K chunk is channels 4*k0 .. 4*(k0 + K4) - 1; ACCUMULATE adds to M (every chunk after the
// first, where Ci4 > MAX_K4).
// Grid: x = xi, y = block of WG * CO_PER_LANE channels, z = run of BLOCKS blocks: the
// workgroups of all positions for the same tiles run one after another, so the pieces of M
// they write fill the same cache lines while those are still in cache.
enable subgroups;

struct Params { Ci4: u32, CoP: u32, TPc: u32, k0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<vec4f>;
@group(0) @binding(2) var<storage, read> v: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> m: array<vec4f>;

override WG: u32 = 8;
override CO_PER_LANE: u32 = 4u;
override BLOCKS: u32 = 8u;
override K4: u32 = 8u;          // vec4s of input channels in this chunk, <= MAX_K4
override ACCUMULATE: bool = false;
override TILE: u32 = 2u;
override ALPHA: u32 = TILE + 2u;
override M_STRIDE: u32;               // ALPHA^2 + 1, set by winograd.ts (see the header)
const MAX_K4 = 64u;
const QUADS = 4u;               // a block's 16 tiles as 4 vec4s

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sgLane: u32,
        @builtin(workgroup_id) wid: vec3u) {
  let co = wid.y * WG * CO_PER_LANE + lane;
  let xi = wid.x;
  let loader = sgLane % 8u;
  let TQ = p.TPc / 4u;
  // This lane's weights for the whole chunk; a channel past CoP is clamped (computed, never stored).
  var w: array<array<vec4f, 4>, MAX_K4>;
  for (var k = 0u; k < K4; k++) {
    let ub = (xi * p.Ci4 + p.k0 + k) * p.CoP;
    for (var a = 0u; a < CO_PER_LANE; a++) { w[k][a] = u[ub + min(co + a * WG, p.CoP - 1u)]; }
  }
  for (var block = 0u; block < BLOCKS; block++) {
    let quad0 = (wid.z * BLOCKS + block) * QUADS;
    if (quad0 >= TQ) { break; }
    // acc[QUADS*a + q]: channel co + a*WG, tiles 4q .. 4q+3 of the block.
    // Initialized explicitly: a bare `var acc: ...;` in a loop body kept the last block's sums
    // through Dawn and lavapipe (every multi-block test failed).
    var acc = array<vec4f, 4 * QUADS>();
    // Round r, lane l: input channel 4k + 2r + l/4, tile quad l%4.
    let own = (xi * 4u * p.Ci4 + 4u * p.k0 + loader / 4u) * TQ + quad0 + loader % 4u;
    for (var k = 0u; k < K4; k++) {
      let vb = own + 4u * k * TQ;
      let r0 = v[vb];
      let r1 = v[vb + 2u * TQ];
      // t[c][q]: input channel 4k + c, tile quad q, in every lane.
      let t = array<array<vec4f, 4>, 4>(
        array<vec4f, 4>(subgroupBroadcast(r0, 0u), subgroupBroadcast(r0, 1u), subgroupBroadcast(r0, 2u), subgroupBroadcast(r0, 3u)),
        array<vec4f, 4>(subgroupBroadcast(r0, 4u), subgroupBroadcast(r0, 5u), subgroupBroadcast(r0, 6u), subgroupBroadcast(r0, 7u)),
        array<vec4f, 4>(subgroupBroadcast(r1, 0u), subgroupBroadcast(r1, 1u), subgroupBroadcast(r1, 2u), subgroupBroadcast(r1, 3u)),
        array<vec4f, 4>(subgroupBroadcast(r1, 4u), subgroupBroadcast(r1, 5u), subgroupBroadcast(r1, 6u), subgroupBroadcast(r1, 7u)));
      for (var a = 0u; a < CO_PER_LANE; a++) {
        let wk = w[k][a];
        for (var c = 0u; c < 4u; c++) {
          for (var q = 0u; q < QUADS; q++) { acc[QUADS * a + q] += wk[c] * t[c][q]; }
        }
      }
    }
    for (var a = 0u; a < CO_PER_LANE; a++) {
      let c = co + a * WG;
      if (c >= p.CoP) { break; }
      for (var q = 0u; q < QUADS; q++) {
        let o = (c * TQ + quad0 + q) * M_STRIDE + xi;
        m[o] = select(acc[QUADS * a + q], m[o] + acc[QUADS * a + q], ACCUMULATE);
      }
    }
  }
}
