// cam — the class activation map, fused: class maps, their combination, the reduction
// over the map and the normalization, for a batch of images in one launch.
//   map[n,j,p]  = sum_k W[j,k] * F[n,k,p]                  (every class; p = h*w pixel)
//   c1, c2      = the top-2 classes of logits[n,:]         (computed here: no CPU round-trip)
//   coef[j]     = MODE 0 (contrast): +1 for c1; -1 for c2 (CONTRAST 0) or -1/(J-1) for
//                 every other class (CONTRAST 1);  MODE 1/2 (class, raw): 1 for `cls`
//                 (or c1 when cls < 0)
//   raw[n,p]    = sum_j coef[j] * map[n,j,p]
//   norm[n,p]   = MODE 0: clamp(raw / max_p |raw|, 0, 1)
//                 MODE 1: (raw - min_p raw) / (max_p raw - min_p raw)
//                 MODE 2: clamp(raw / rawScale, 0, 1)
//   u8[n,p]     = floor(255 * norm + 0.5)
// Layout: F NCHW [N,K,h,w]; W [J,K]; logits [N,J]; maps [N,J,h*w]; raw, norm, u8 [N,h*w]
// (u8 holds one value 0..255 per u32). One workgroup per image: each invocation takes
// pixels lid, lid+WG, ...; the max/min reduction runs in workgroup memory.
struct Params { N: u32, K: u32, J: u32, HW: u32, mode: u32, contrast: u32, cls: i32, rawScale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> F: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> maps: array<f32>;
@group(0) @binding(5) var<storage, read_write> raw: array<f32>;
@group(0) @binding(6) var<storage, read_write> norm: array<f32>;
@group(0) @binding(7) var<storage, read_write> u8: array<u32>;

override WG: u32 = 64;   // a power of two
var<workgroup> redMax: array<f32, WG>;
var<workgroup> redMin: array<f32, WG>;

fn coefficient(j: u32, c1: u32, c2: u32) -> f32 {
  if (p.mode == 0u) {
    if (j == c1) { return 1.0; }
    if (p.contrast == 0u) { return select(0.0, -1.0, j == c2); }
    return -1.0 / f32(p.J - 1u);
  }
  let chosen = select(u32(p.cls), c1, p.cls < 0);
  return select(0.0, 1.0, j == chosen);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x;
  // Top-2 classes: the same answer in every invocation of the workgroup.
  var c1 = 0u;
  for (var j = 1u; j < p.J; j++) { if (logits[n * p.J + j] > logits[n * p.J + c1]) { c1 = j; } }
  var c2 = select(0u, 1u, c1 == 0u);
  for (var j = 0u; j < p.J; j++) { if (j != c1 && logits[n * p.J + j] > logits[n * p.J + c2]) { c2 = j; } }

  var hi = -3.4e38;
  var lo = 3.4e38;
  for (var px = lid; px < p.HW; px += WG) {
    var v = 0.0;
    for (var j = 0u; j < p.J; j++) {
      var m = 0.0;
      for (var k = 0u; k < p.K; k++) { m += W[j * p.K + k] * F[(n * p.K + k) * p.HW + px]; }
      maps[(n * p.J + j) * p.HW + px] = m;
      v += coefficient(j, c1, c2) * m;
    }
    raw[n * p.HW + px] = v;
    if (p.mode == 0u) { hi = max(hi, abs(v)); } else { hi = max(hi, v); lo = min(lo, v); }
  }
  redMax[lid] = hi;
  redMin[lid] = lo;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      redMax[lid] = max(redMax[lid], redMax[lid + s]);
      redMin[lid] = min(redMin[lid], redMin[lid + s]);
    }
    workgroupBarrier();
  }
  let top = redMax[0];
  let bottom = redMin[0];
  // Each invocation re-reads only the pixels it wrote itself, so no storage barrier is needed.
  for (var px = lid; px < p.HW; px += WG) {
    let v = raw[n * p.HW + px];
    var t = 0.0;
    if (p.mode == 0u) {
      t = select(0.0, clamp(v / top, 0.0, 1.0), top > 0.0);
    } else if (p.mode == 1u) {
      t = select(0.0, (v - bottom) / (top - bottom), top > bottom);
    } else {
      t = clamp(v / p.rawScale, 0.0, 1.0);
    }
    norm[n * p.HW + px] = t;
    u8[n * p.HW + px] = u32(floor(255.0 * t + 0.5));
  }
}
