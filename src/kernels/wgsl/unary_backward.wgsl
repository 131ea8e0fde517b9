// unary_backward — dx = dy * f'(x) for the activations of unary.wgsl (same op numbers), from the
// activation's input x and output y (relu, clip, leaky relu, sigmoid and hard sigmoid read y
// alone, so a conv with its activation fused passes its output as both):
//   relu: y > 0;  clip: lo < y < hi;  leaky: y >= 0 ? 1 : alpha;  sigmoid: y (1 - y);
//   hard sigmoid: alpha where 0 < y < 1;  hard swish: hs(x) + x alpha (0 < alpha x + beta < 1);
//   swish: s + x s (1 - s), s = sigmoid(x);  identity: 1.
struct Params { len: u32, op: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.len) { return; }
  let v = x[i];
  let u = y[i];
  var d = 1.0;
  switch (p.op) {
    case 1u: { d = select(0.0, 1.0, u > 0.0); }
    case 2u: { d = select(0.0, 1.0, u > p.a && u < p.b); }
    case 3u: { d = select(p.a, 1.0, u >= 0.0); }
    case 4u: { d = u * (1.0 - u); }
    case 5u: { d = select(0.0, p.a, u > 0.0 && u < 1.0); }
    case 6u: {
      let t = p.a * v + p.b;
      d = clamp(t, 0.0, 1.0) + select(0.0, v * p.a, t > 0.0 && t < 1.0);
    }
    case 7u: {
      let s = 1.0 / (1.0 + exp(-v));
      d = s + v * s * (1.0 - s);
    }
    default: {}
  }
  dx[i] = dy[i] * d;
}
