// broadcast_binary — y = a OP b with numpy broadcasting (ONNX Add, Sub, Mul, Div), rank <= 6:
//   y[i] = a[sum_d idx_d(i) * sa_d] OP b[sum_d idx_d(i) * sb_d]
// where idx_d(i) are the output coordinates (last dimension fastest) and sa, sb are the inputs'
// strides with 0 on broadcast dimensions. op: 0 add, 1 sub, 2 mul, 3 div; act: 0 none, 1 relu.
struct Params { len: u32, op: u32, rank: u32, act: u32, dims: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

fn at(v: array<vec4u, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.len) { return; }
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  for (var k = 0u; k < p.rank; k++) {
    let d = p.rank - 1u - k;
    let size = at(p.dims, d);
    let c = rest % size;
    rest = rest / size;
    ia += c * at(p.sa, d);
    ib += c * at(p.sb, d);
  }
  let u = a[ia];
  let v = b[ib];
  var r = u + v;
  if (p.op == 1u) { r = u - v; } else if (p.op == 2u) { r = u * v; } else if (p.op == 3u) { r = u / v; }
  if (p.act == 1u) { r = max(r, 0.0); }
  y[i] = r;
}
