// unary — the elementwise activations of imported graphs, any layout:
//   op 0 identity (a copy), 1 relu max(x,0), 2 clip(x, lo, hi), 3 leaky relu (x >= 0 ? x : alpha x),
//   4 sigmoid 1/(1+e^-x), 5 hard sigmoid clamp(alpha x + beta, 0, 1), 6 hard swish x * hardsigmoid(x),
//   7 swish x * sigmoid(x).
// Parameters lo/alpha and hi/beta share two f32 slots.
struct Params { len: u32, op: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.len) { return; }
  let v = x[i];
  var r = v;
  switch (p.op) {
    case 1u: { r = max(v, 0.0); }
    case 2u: { r = clamp(v, p.a, p.b); }
    case 3u: { r = select(p.a * v, v, v >= 0.0); }
    case 4u: { r = sigmoid(v); }
    case 5u: { r = clamp(p.a * v + p.b, 0.0, 1.0); }
    case 6u: { r = v * clamp(p.a * v + p.b, 0.0, 1.0); }
    case 7u: { r = v * sigmoid(v); }
    default: {}
  }
  y[i] = r;
}
