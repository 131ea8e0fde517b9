// gradcam — the gradient-weighted class activation maps, fused, for a batch of images in one
// launch, from a conv layer's activations A (after its ReLU) and the gradient G of the target
// score with respect to them:
//   weights[n,k] = METHOD 0 (Grad-CAM):   mean_p G[n,k,p]
//                  METHOD 1 (Grad-CAM++): sum_p relu(G) * alpha,  alpha = G^2 / (2 G^2 + S G^3 + 1e-6)
//                                         S = sum_p A[n,k,p]; the term is formed only where G > 0
//                                         (relu(G) is 0 elsewhere, and alpha can be 0/0 where G < 0)
//                  METHOD 2 (XGrad-CAM):  sum_p G * A / (S + 1e-7)
//   raw[n,p]     = METHOD 0-2: sum_k weights[n,k] * A[n,k,p]
//                  METHOD 3 (LayerCAM):   sum_k relu(G[n,k,p]) * A[n,k,p]
//                  METHOD 4 (HiResCAM):   sum_k G[n,k,p] * A[n,k,p]
//   norm[n,p]    = relu(raw) / max_p relu(raw)   (0 where the max is 0);  u8 = floor(255 norm + 0.5)
// The epsilons are pytorch-grad-cam's (grad_cam_plusplus.py, xgrad_cam.py). Layout: A, G [N,K,h*w]; weights [N,K] (0 for methods 3-4);
// raw, norm, u8 [N,h*w] (u8 holds one value 0..255 per u32). One workgroup per image: channels
// and then pixels are spread over the invocations; the max reduction runs in workgroup memory.
struct Params { N: u32, K: u32, HW: u32, method: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> raw: array<f32>;
@group(0) @binding(5) var<storage, read_write> norm: array<f32>;
@group(0) @binding(6) var<storage, read_write> u8: array<u32>;

override WG: u32 = 64;   // a power of two
const EPS_PLUSPLUS = 1e-6;
const EPS_XGRAD = 1e-7;
var<workgroup> red: array<f32, WG>;

fn channelWeight(n: u32, k: u32) -> f32 {
  let base = (n * p.K + k) * p.HW;
  var S = 0.0;
  if (p.method != 0u) { for (var px = 0u; px < p.HW; px++) { S += A[base + px]; } }
  var w = 0.0;
  for (var px = 0u; px < p.HW; px++) {
    let g = G[base + px];
    if (p.method == 0u) {
      w += g;
    } else if (p.method == 1u) {
      if (g > 0.0) {
        let g2 = g * g;
        w += g * g2 / (2.0 * g2 + S * g2 * g + EPS_PLUSPLUS);
      }
    } else {
      w += g * A[base + px];
    }
  }
  if (p.method == 0u) { return w / f32(p.HW); }
  if (p.method == 2u) { return w / (S + EPS_XGRAD); }
  return w;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n = wid.x;
  for (var k = lid; k < p.K; k += WG) {
    weights[n * p.K + k] = select(0.0, channelWeight(n, k), p.method < 3u);
  }
  // Every invocation reads every channel's weight below: make the others' writes visible.
  storageBarrier();

  var hi = 0.0;
  for (var px = lid; px < p.HW; px += WG) {
    var v = 0.0;
    for (var k = 0u; k < p.K; k++) {
      let i = (n * p.K + k) * p.HW + px;
      if (p.method < 3u) {
        v += weights[n * p.K + k] * A[i];
      } else {
        let g = G[i];
        v += select(g, max(g, 0.0), p.method == 3u) * A[i];
      }
    }
    raw[n * p.HW + px] = v;
    hi = max(hi, v);
  }
  red[lid] = hi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let top = red[0];
  // Each invocation re-reads only the pixels it wrote itself, so no storage barrier is needed.
  for (var px = lid; px < p.HW; px += WG) {
    let t = select(0.0, max(raw[n * p.HW + px], 0.0) / top, top > 0.0);
    norm[n * p.HW + px] = t;
    u8[n * p.HW + px] = u32(floor(255.0 * t + 0.5));
  }
}
