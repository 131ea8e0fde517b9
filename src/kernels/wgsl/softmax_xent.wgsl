// softmax_xent — fused softmax + cross-entropy with its gradient and accuracy counts.
//   p = softmax(z[n,:]);  loss_n = -log p[label_n]
//   dz[n,j] = scale * (p[j] - [j == label_n])       (scale = 1/batch for a mean loss)
//   loss[0] = scale * sum_n loss_n                  (the mean loss when scale = 1/batch)
//   stats[0] += sum_n loss_n;  stats[1] += #{n : argmax_j z[n,j] == label_n};  stats[2] += N
// stats accumulates across launches so a training loop reads it back only when it prints.
// Layout: z, dz [N,J]; labels [N] (class index stored as f32); loss [1]; stats [4].
// A single workgroup: invocations take rows lid, lid+WG, ... then reduce in workgroup memory.
struct Params { N: u32, J: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;

override WG: u32 = 64;   // a power of two
var<workgroup> lossPart: array<f32, WG>;
var<workgroup> hitPart: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var lossSum = 0.0;
  var hits = 0.0;
  for (var n = lid; n < p.N; n += WG) {
    let row = n * p.J;
    let label = u32(labels[n]);
    var m = z[row];
    var arg = 0u;
    for (var j = 1u; j < p.J; j++) {
      if (z[row + j] > m) { m = z[row + j]; arg = j; }
    }
    var s = 0.0;
    for (var j = 0u; j < p.J; j++) { s += exp(z[row + j] - m); }
    lossSum += log(s) - (z[row + label] - m);
    hits += select(0.0, 1.0, arg == label);
    for (var j = 0u; j < p.J; j++) {
      let pj = exp(z[row + j] - m) / s;
      dz[row + j] = p.scale * (pj - select(0.0, 1.0, j == label));
    }
  }
  lossPart[lid] = lossSum;
  hitPart[lid] = hits;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      lossPart[lid] += lossPart[lid + stride];
      hitPart[lid] += hitPart[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    loss[0] = p.scale * lossPart[0];
    stats[0] += lossPart[0];
    stats[1] += hitPart[0];
    stats[2] += f32(p.N);
  }
}
