// reduce_to_shape — the gradient of a broadcast: y[j] = sum of x over the dimensions the
// operand was broadcast along (rank <= 6, both shapes of one rank, y's dims 1 where reduced):
//   y[j] = sum_{k over reduced coordinates} x[coords(j) + coords(k)]
// dims: x's shape; red: 1 where y's dimension is 1 and x's is not. One invocation per y element.
struct Params { len: u32, rank: u32, reducedCount: u32, _a: u32, dims: array<vec4u, 2>, red: array<vec4u, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 64;

fn at(v: array<vec4u, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * WG;
  if (j >= p.len) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.reducedCount; k++) {
    // Walk the dimensions from the last: kept ones take j's coordinates, reduced ones k's.
    var restJ = j;
    var restK = k;
    var index = 0u;
    var stride = 1u;
    for (var t = 0u; t < p.rank; t++) {
      let d = p.rank - 1u - t;
      let size = at(p.dims, d);
      var c = 0u;
      if (at(p.red, d) == 1u) {
        c = restK % size;
        restK = restK / size;
      } else {
        c = restJ % size;
        restJ = restJ / size;
      }
      index += c * stride;
      stride *= size;
    }
    s += x[index];
  }
  y[j] = s;
}
