// images_to_tensor_words — images_to_tensor with one invocation per packed word: its 4 bytes
// become 4 outputs, for one word load (and at most two flip loads) instead of one each per
// output. On a CPU driver every load is a loop over the SIMD lanes, so loads are the cost.
//   y[n,c,h,w] = pix[n, h, flip_n ? W-1-w : w, c] / 255
// Layout: pix packs NHWC bytes four to a u32 (little-endian); flip [N] (0 or 1 as f32);
// y NCHW [N,C,H,W]. A word may straddle two images; the bytes past the last image are padding.
struct Params { N: u32, C: u32, H: u32, W: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pix: array<u32>;
@group(0) @binding(2) var<storage, read> flip: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let word = gid.x + gid.y * nwg.x * WG;
  let imageBytes = p.H * p.W * p.C;
  let total = p.N * imageBytes;
  if (4u * word >= total) { return; }
  let bits = pix[word];
  let firstImage = (4u * word) / imageBytes;
  let lastImage = min(4u * word + 3u, total - 1u) / imageBytes;
  let flips = vec2<bool>(flip[firstImage] != 0.0, flip[lastImage] != 0.0);
  for (var k = 0u; k < 4u; k++) {
    let byte = 4u * word + k;
    if (byte >= total) { break; }
    let n = byte / imageBytes;
    let c = byte % p.C;
    let pixel = (byte % imageBytes) / p.C;
    let h = pixel / p.W;
    var w = pixel % p.W;
    if (select(flips.x, flips.y, n != firstImage)) { w = p.W - 1u - w; }
    y[((n * p.C + c) * p.H + h) * p.W + w] = f32((bits >> (8u * k)) & 0xffu) / 255.0;
  }
}
