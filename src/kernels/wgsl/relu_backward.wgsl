// relu_backward — dx[i] = dy[i] if y[i] > 0 else 0, where y = relu(...) is the
// forward output (so the same kernel serves conv with fused ReLU). Elementwise.
struct Params { len: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.len) { return; }
  dx[i] = select(0.0, dy[i], y[i] > 0.0);
}
