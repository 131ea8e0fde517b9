// multiply_add_peak — the device's rate on the simplest arithmetic, a yardstick the bench reads
// the convolutions against (on a CPU driver it moves with the host's load, and they with it).
//   a_j = x[i] + j (j < 16);  `rounds` times: a_j = a_j * M + 0.5;  y[i] = sum of the a_j
// Sixteen independent chains per invocation hide the multiply and add latencies (eight did
// not, on lavapipe); no memory traffic in the loop. x, y: flat, one element per invocation.
struct Params { count: u32, rounds: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;
// 1 - 2^-10: exact in f32, and it pulls every chain towards 512, so nothing overflows.
const M: f32 = 0.9990234375;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  // No early return: on a CPU driver a lane that may have left puts the whole loop under an
  // execution mask. The spare lanes of the last workgroup compute on x[0] and store nothing.
  let x0 = x[select(0u, i, i < p.count)];
  var a0 = x0;
  var a1 = x0 + 1.0;
  var a2 = x0 + 2.0;
  var a3 = x0 + 3.0;
  var a4 = x0 + 4.0;
  var a5 = x0 + 5.0;
  var a6 = x0 + 6.0;
  var a7 = x0 + 7.0;
  var a8 = x0 + 8.0;
  var a9 = x0 + 9.0;
  var a10 = x0 + 10.0;
  var a11 = x0 + 11.0;
  var a12 = x0 + 12.0;
  var a13 = x0 + 13.0;
  var a14 = x0 + 14.0;
  var a15 = x0 + 15.0;
  for (var r = 0u; r < p.rounds; r++) {
    a0 = a0 * M + 0.5;
    a1 = a1 * M + 0.5;
    a2 = a2 * M + 0.5;
    a3 = a3 * M + 0.5;
    a4 = a4 * M + 0.5;
    a5 = a5 * M + 0.5;
    a6 = a6 * M + 0.5;
    a7 = a7 * M + 0.5;
    a8 = a8 * M + 0.5;
    a9 = a9 * M + 0.5;
    a10 = a10 * M + 0.5;
    a11 = a11 * M + 0.5;
    a12 = a12 * M + 0.5;
    a13 = a13 * M + 0.5;
    a14 = a14 * M + 0.5;
    a15 = a15 * M + 0.5;
  }
  let sum8a = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
  let sum8b = ((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15));
  if (i < p.count) { y[i] = sum8a + sum8b; }
}
