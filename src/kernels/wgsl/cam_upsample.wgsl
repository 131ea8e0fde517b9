// cam_upsample — bilinear upsampling of one CAM to a photo's original size, with each
// map cell placed at the centre of its receptive field (not stretched edge to edge):
//   photo pixel X -> network input coordinate x = (X + 0.5) * inW / outW - 0.5
//                 -> map coordinate       u = (x - offset) / stride
//   out[Y,X] = bilinear(map, u, v), clamped to the map's edge cells
// offset/stride come from the layer geometry (3x3 valid conv: x_in = x_out + 1; 2x2
// pool: x_in = 2 x_out + 0.5). Layout: map [h,w] (at mapOffset); out [outH,outW].
struct Params { h: u32, w: u32, outH: u32, outW: u32, mapOffset: u32, inH: f32, inW: f32, offset: f32, stride: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> map: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;

fn sample(y: u32, x: u32) -> f32 { return map[p.mapOffset + y * p.w + x]; }

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.outH * p.outW) { return; }
  let X = f32(i % p.outW);
  let Y = f32(i / p.outW);
  let u = clamp((((X + 0.5) * p.inW / f32(p.outW) - 0.5) - p.offset) / p.stride, 0.0, f32(p.w - 1u));
  let v = clamp((((Y + 0.5) * p.inH / f32(p.outH) - 0.5) - p.offset) / p.stride, 0.0, f32(p.h - 1u));
  let x0 = u32(floor(u));
  let y0 = u32(floor(v));
  let x1 = min(x0 + 1u, p.w - 1u);
  let y1 = min(y0 + 1u, p.h - 1u);
  let fx = u - f32(x0);
  let fy = v - f32(y0);
  let top = mix(sample(y0, x0), sample(y0, x1), fx);
  let bottom = mix(sample(y1, x0), sample(y1, x1), fx);
  out[i] = mix(top, bottom, fy);
}
