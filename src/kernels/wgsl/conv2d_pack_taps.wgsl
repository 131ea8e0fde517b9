// conv2d_pack_taps — weights re-laid so one output channel's 9 taps of one input channel
// arrive as 3 vec4 loads (the last holds tap 8 and zeros):
//   FLIP = false (forward):    wq[((ci*outCP + co)*3 + q)][k] = w[co, ci, 4q+k]
//   FLIP = true  (grad-input): wq[((co*outCP + ci)*3 + q)][k] = w[co, ci, 8-(4q+k)]
//                              (the flipped, transposed weights dx = dy (*) w needs)
// Layout: w [Co,Ci,3,3]; wq [inC, outCP, 3] of vec4, outCP = outC rounded up to 4,
// zero-padded. One invocation per float of wq.
struct Params { Co: u32, Ci: u32, outCP: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> wq: array<f32>;

override WG: u32 = 64;
override FLIP: bool = false;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let inC = select(p.Ci, p.Co, FLIP);
  let outC = select(p.Co, p.Ci, FLIP);
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= inC * p.outCP * 12u) { return; }
  let t = i % 12u;
  let o = (i / 12u) % p.outCP;
  let c = i / (12u * p.outCP);
  if (o >= outC || t >= 9u) { wq[i] = 0.0; return; }
  if (FLIP) {
    wq[i] = w[(c * p.Ci + o) * 9u + 8u - t];
  } else {
    wq[i] = w[(o * p.Ci + c) * 9u + t];
  }
}
