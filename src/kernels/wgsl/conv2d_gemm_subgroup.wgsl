// conv2d_gemm_subgroup — the matrix product of a 1x1 convolution, or of any ungrouped one after
// im2col, with bias and activation:
//   y[n0+n, co, p] = act( b[co] + sum_k w[co,k] * x[n, k, p] )
// Layout: x [N, K, PS] of f32 read as vec4 (PS = P rounded up to 4: im2col pads its rows,
// a 1x1 convolution needs P % 4 == 0); wq [K4, CoP] of vec4, wq[k4, co] = w[co, 4k4 .. 4k4+3]
// (conv2d_pack_rows: zeros past K and Co, CoP = Co rounded up to 8); b [Co];
// y [*, Co, P] from image n0 on (im2col runs a batch in chunks of images).
// Each invocation makes 8 output channels x PIX (4 or 8) neighbouring pixels. Why this shape on
// a CPU driver (lavapipe): every storage load is a loop over the lanes with a bounds check
// each, while a broadcast from a constant lane is one shuffle. The pixels are the lanes, so
// each lane's x load is one vec4 of its own pixels; the 8 channels' weights for 4 values of k
// arrive in one vec4 load by lanes 0..7 and reach every lane by broadcast: per 4 values of k,
// PIX/4 * 4 + 1 loads and 8 vec4 broadcasts feed 8 * PIX * 4 multiply-adds a lane.
// Grid: x = pixel blocks of WG * PIX, y = channel blocks of 8, z = image.
enable subgroups;

struct Params { K: u32, Co: u32, P: u32, PS: u32, CoP: u32, n0: u32, act: u32, lo: f32, hi: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> wq: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;
// Pixels per lane: 4 (one vec4) or 8 (two).
override PIX: u32 = 8u;

/** acc + one value of k: weight c of the 8 (broadcast) times this lane's pixels. */
fn step(acc: vec4f, w: vec4f, c: u32, v: vec4f) -> vec4f {
  return fma(vec4f(w[c]), v, acc);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(subgroup_invocation_id) sgLane: u32) {
  let p0 = gid.x * PIX;
  let co0 = gid.y * 8u;
  let n = gid.z;
  let rowVec4s = p.PS / 4u;
  // Lanes past the row load its last vec4 (and store nothing): every lane must reach the broadcasts.
  let v0 = min(p0 / 4u, rowVec4s - 1u);
  let v1 = min(p0 / 4u + 1u, rowVec4s - 1u);
  var acc: array<vec4f, 16>;  // acc[2c], acc[2c+1]: channel co0 + c, pixels p0..+3 and p0+4..+7
  for (var c = 0u; c < 8u; c++) {
    let bias = vec4f(b[min(co0 + c, p.Co - 1u)]);
    acc[2u * c] = bias;
    acc[2u * c + 1u] = bias;
  }
  let K4 = (p.K + 3u) / 4u;
  let xImage = n * p.K * rowVec4s;
  let loader = co0 + sgLane % 8u;
  for (var k4 = 0u; k4 < K4; k4++) {
    let wl = wq[k4 * p.CoP + loader];
    // Rows past K have zero weights; read row K-1 there (finite values: 0 * x stays 0).
    let r0 = xImage + min(4u * k4, p.K - 1u) * rowVec4s;
    let r1 = xImage + min(4u * k4 + 1u, p.K - 1u) * rowVec4s;
    let r2 = xImage + min(4u * k4 + 2u, p.K - 1u) * rowVec4s;
    let r3 = xImage + min(4u * k4 + 3u, p.K - 1u) * rowVec4s;
    let a0 = x[r0 + v0];
    let a1 = x[r1 + v0];
    let a2 = x[r2 + v0];
    let a3 = x[r3 + v0];
    var b0 = vec4f(0.0);
    var b1 = vec4f(0.0);
    var b2 = vec4f(0.0);
    var b3 = vec4f(0.0);
    if (PIX == 8u) {
      b0 = x[r0 + v1];
      b1 = x[r1 + v1];
      b2 = x[r2 + v1];
      b3 = x[r3 + v1];
    }
    let w0 = subgroupBroadcast(wl, 0u);
    let w1 = subgroupBroadcast(wl, 1u);
    let w2 = subgroupBroadcast(wl, 2u);
    let w3 = subgroupBroadcast(wl, 3u);
    let w4 = subgroupBroadcast(wl, 4u);
    let w5 = subgroupBroadcast(wl, 5u);
    let w6 = subgroupBroadcast(wl, 6u);
    let w7 = subgroupBroadcast(wl, 7u);
    acc[0] = step(step(step(step(acc[0], w0, 0u, a0), w0, 1u, a1), w0, 2u, a2), w0, 3u, a3);
    acc[2] = step(step(step(step(acc[2], w1, 0u, a0), w1, 1u, a1), w1, 2u, a2), w1, 3u, a3);
    acc[4] = step(step(step(step(acc[4], w2, 0u, a0), w2, 1u, a1), w2, 2u, a2), w2, 3u, a3);
    acc[6] = step(step(step(step(acc[6], w3, 0u, a0), w3, 1u, a1), w3, 2u, a2), w3, 3u, a3);
    acc[8] = step(step(step(step(acc[8], w4, 0u, a0), w4, 1u, a1), w4, 2u, a2), w4, 3u, a3);
    acc[10] = step(step(step(step(acc[10], w5, 0u, a0), w5, 1u, a1), w5, 2u, a2), w5, 3u, a3);
    acc[12] = step(step(step(step(acc[12], w6, 0u, a0), w6, 1u, a1), w6, 2u, a2), w6, 3u, a3);
    acc[14] = step(step(step(step(acc[14], w7, 0u, a0), w7, 1u, a1), w7, 2u, a2), w7, 3u, a3);
    if (PIX == 8u) {
      acc[1] = step(step(step(step(acc[1], w0, 0u, b0), w0, 1u, b1), w0, 2u, b2), w0, 3u, b3);
      acc[3] = step(step(step(step(acc[3], w1, 0u, b0), w1, 1u, b1), w1, 2u, b2), w1, 3u, b3);
      acc[5] = step(step(step(step(acc[5], w2, 0u, b0), w2, 1u, b1), w2, 2u, b2), w2, 3u, b3);
      acc[7] = step(step(step(step(acc[7], w3, 0u, b0), w3, 1u, b1), w3, 2u, b2), w3, 3u, b3);
      acc[9] = step(step(step(step(acc[9], w4, 0u, b0), w4, 1u, b1), w4, 2u, b2), w4, 3u, b3);
      acc[11] = step(step(step(step(acc[11], w5, 0u, b0), w5, 1u, b1), w5, 2u, b2), w5, 3u, b3);
      acc[13] = step(step(step(step(acc[13], w6, 0u, b0), w6, 1u, b1), w6, 2u, b2), w6, 3u, b3);
      acc[15] = step(step(step(step(acc[15], w7, 0u, b0), w7, 1u, b1), w7, 2u, b2), w7, 3u, b3);
    }
  }
  if (p0 >= p.P) { return; }
  for (var c = 0u; c < 8u; c++) {
    let co = co0 + c;
    if (co >= p.Co) { break; }
    let out = ((p.n0 + n) * p.Co + co) * p.P + p0;
    for (var j = 0u; j < PIX; j++) {
      if (p0 + j >= p.P) { break; }
      var v = acc[2u * c + j / 4u][j % 4u];
      if (p.act == 1u) { v = max(v, 0.0); } else if (p.act == 2u) { v = clamp(v, p.lo, p.hi); }
      y[out + j] = v;
    }
  }
}
