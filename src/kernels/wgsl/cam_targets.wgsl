// cam_targets — what the gradient-based CAMs differentiate, per image: the coefficients of the
// class scores in the target (the gradient of sum_j coef[n,j] * logits[n,j] is coef), chosen
// as cam.wgsl chooses its classes:
//   c1, c2     = the top-2 classes of logits[n,:] (first index wins ties)
//   coef[n,j]  = MODE 0 (contrast): +1 for c1; -1 for c2 (CONTRAST 0) or -1/(J-1) for every
//                other class (CONTRAST 1);  MODE 1 (class): 1 for `cls` (or c1 when cls < 0)
// Layout: logits, coef [N,J]. One invocation per image.
struct Params { N: u32, J: u32, mode: u32, contrast: u32, cls: i32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> coef: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let n = gid.x + gid.y * groups.x * WG;
  if (n >= p.N) { return; }
  let row = n * p.J;
  var c1 = 0u;
  for (var j = 1u; j < p.J; j++) { if (logits[row + j] > logits[row + c1]) { c1 = j; } }
  var c2 = select(0u, 1u, c1 == 0u);
  for (var j = 0u; j < p.J; j++) { if (j != c1 && logits[row + j] > logits[row + c2]) { c2 = j; } }
  let chosen = select(u32(p.cls), c1, p.cls < 0);
  for (var j = 0u; j < p.J; j++) {
    var c = 0.0;
    if (p.mode == 0u) {
      if (j == c1) { c = 1.0; } else if (p.contrast == 0u) { c = select(0.0, -1.0, j == c2); } else { c = -1.0 / f32(p.J - 1u); }
    } else {
      c = select(0.0, 1.0, j == chosen);
    }
    coef[row + j] = c;
  }
}
