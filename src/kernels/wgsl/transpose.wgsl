// transpose — y = x with its dimensions permuted (ONNX Transpose; NHWC inputs), rank <= 6:
//   y[i] = x[sum_d idx_d(i) * sx_d], idx_d(i) the output coordinates (last fastest) and sx_d the
//   input stride of the input dimension that output dimension d comes from.
struct Params { len: u32, rank: u32, _a: u32, _b: u32, dims: array<vec4u, 2>, sx: array<vec4u, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

fn at(v: array<vec4u, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.len) { return; }
  var rest = i;
  var ix = 0u;
  for (var k = 0u; k < p.rank; k++) {
    let d = p.rank - 1u - k;
    let size = at(p.dims, d);
    ix += (rest % size) * at(p.sx, d);
    rest = rest / size;
  }
  y[i] = x[ix];
}
