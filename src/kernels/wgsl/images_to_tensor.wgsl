// images_to_tensor — u8 RGB images (as decoded and cached) to the f32 network input,
// with an optional horizontal flip per image (cheap augmentation):
//   y[n,c,h,w] = pix[n, h, flip_n ? W-1-w : w, c] / 255
// Layout: pix packs NHWC bytes four to a u32 (little-endian); flip [N] (0 or 1 as f32);
// y NCHW [N,C,H,W]. One invocation per output element.
struct Params { N: u32, C: u32, H: u32, W: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pix: array<u32>;
@group(0) @binding(2) var<storage, read> flip: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.N * p.C * p.H * p.W) { return; }
  var xx = e % p.W;
  let yy = (e / p.W) % p.H;
  let c = (e / (p.W * p.H)) % p.C;
  let n = e / (p.W * p.H * p.C);
  if (flip[n] != 0.0) { xx = p.W - 1u - xx; }
  let byte = ((n * p.H + yy) * p.W + xx) * p.C + c;
  let word = pix[byte / 4u];
  y[e] = f32((word >> (8u * (byte % 4u))) & 0xffu) / 255.0;
}
