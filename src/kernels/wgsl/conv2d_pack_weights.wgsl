// conv2d_pack_weights — weights re-laid so one vec4 load brings 4 output channels of one tap:
//   FLIP = false (forward):    wp[(ci*9 + t) * CoP + co] = w[co, ci, t]
//   FLIP = true  (grad-input): wp[(co*9 + t) * CiP + ci] = w[co, ci, 8 - t]
//                              (the flipped, transposed weights dx = dy (*) w needs)
// Layout: w [Co,Ci,3,3]; wp [inC*9, outCP] with outCP = outC rounded up to 4, zero-padded.
// One invocation per element of wp.
struct Params { Co: u32, Ci: u32, outCP: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> wp: array<f32>;

override WG: u32 = 64;
override FLIP: bool = false;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let inC = select(p.Ci, p.Co, FLIP);
  let outC = select(p.Co, p.Ci, FLIP);
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= inC * 9u * p.outCP) { return; }
  let o = i % p.outCP;
  let t = (i / p.outCP) % 9u;
  let c = i / (p.outCP * 9u);
  if (o >= outC) { wp[i] = 0.0; return; }
  if (FLIP) {
    wp[i] = w[(c * p.Ci + o) * 9u + 8u - t];
  } else {
    wp[i] = w[(o * p.Ci + c) * 9u + t];
  }
}
