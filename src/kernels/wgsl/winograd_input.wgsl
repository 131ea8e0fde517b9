// winograd_input — the data transform of F(m x m, 3x3), 4 tiles at a time:
//   V[xi, tile] = (B^T d B)[xi] for the ALPHA x ALPHA window d at (TILE*ty - PAD, TILE*tx - PAD)
//   F(2x2): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   F(4x4): B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
//                  0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   F(6x6): B^T = [1 0 -21/4 0 21/4 0 -1 0; 0 1 1 -17/4 -17/4 1 1 0; 0 -1 1 17/4 -17/4 -1 1 0;
//                  0 1/2 1/4 -5/2 -5/4 2 1 0; 0 -1/2 1/4 5/2 -5/4 -2 1 0;
//                  0 2 4 -5/2 -5 1/2 1 0; 0 -2 4 5/2 -5 -1/2 1 0; 0 -1 0 21/4 0 -21/4 0 1]
//   (interpolation points 0, +-1, +-2, +-1/2 and infinity, Lavin & Gray's choice for F(6x6))
// x outside the image reads as 0 (PAD = 2 for grad-input), as do channels past Ci and tiles
// past the last, so the GEMM needs no bounds checks.
// Layout: x NCHW [N,Ci,H,W]; tiles numbered (n*tH + ty)*tW + tx, this launch's chunk from
// tileBase; V [ALPHA^2, 4*Ci4, TPc/4] of vec4 over 4 consecutive tiles (the GEMM broadcasts
// them as they are). One invocation per (input channel, 4 tiles of the chunk).
struct Params { N: u32, Ci: u32, H: u32, W: u32, Ci4: u32, tH: u32, tW: u32, T: u32, TPc: u32, tileBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<vec4f>;

override WG: u32 = 64;
override PAD: u32 = 0u;
override TILE: u32 = 2u;
override ALPHA: u32 = TILE + 2u;

alias Line = array<vec4f, 8>;

/** B^T d for one line d of the window (ALPHA values). */
fn dataLine(d: Line) -> Line {
  if (TILE == 2u) {
    return Line(d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3], vec4f(), vec4f(), vec4f(), vec4f());
  }
  if (TILE == 4u) {
    return Line(4.0 * d[0] - 5.0 * d[2] + d[4],
                d[3] + d[4] - 4.0 * (d[1] + d[2]),
                4.0 * (d[1] - d[2]) + d[4] - d[3],
                2.0 * (d[3] - d[1]) + d[4] - d[2],
                2.0 * (d[1] - d[3]) + d[4] - d[2],
                4.0 * d[1] - 5.0 * d[3] + d[5], vec4f(), vec4f());
  }
  // Even and odd parts shared by the rows of +-p.
  let e1 = d[2] + d[6] - 4.25 * d[4];
  let o1 = d[1] + d[5] - 4.25 * d[3];
  let e2 = 0.25 * d[2] - 1.25 * d[4] + d[6];
  let o2 = 0.5 * d[1] - 2.5 * d[3] + 2.0 * d[5];
  let e3 = 4.0 * d[2] - 5.0 * d[4] + d[6];
  let o3 = 2.0 * d[1] - 2.5 * d[3] + 0.5 * d[5];
  return Line(d[0] - d[6] + 5.25 * (d[4] - d[2]), e1 + o1, e1 - o1, e2 + o2, e2 - o2, e3 + o3, e3 - o3,
              d[7] - d[1] + 5.25 * (d[3] - d[5]));
}

/** x at (iy, ix) of plane (n, c); 0 outside the image, past the channels or past the tiles. */
fn pixel(valid: bool, plane: u32, iy: i32, ix: i32) -> f32 {
  let inside = valid && iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W);
  let i = (plane + u32(clamp(iy, 0, i32(p.H) - 1))) * p.W + u32(clamp(ix, 0, i32(p.W) - 1));
  return select(0.0, x[i], inside);
}

/** Where tile `t`'s window starts, and its plane's first row in x. */
struct Origin { valid: bool, plane: u32, iy: i32, ix: i32 }
fn origin(t: u32, c: u32) -> Origin {
  let tx = t % p.tW;
  let ty = (t / p.tW) % p.tH;
  let n = min(t / (p.tW * p.tH), p.N - 1u);
  let plane = (n * p.Ci + min(c, p.Ci - 1u)) * p.H;
  return Origin(t < p.T && c < p.Ci, plane, i32(ty * TILE) - i32(PAD), i32(tx * TILE) - i32(PAD));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let TQ = p.TPc / 4u;
  if (i >= 4u * p.Ci4 * TQ) { return; }
  let quad = i % TQ;
  let c = i / TQ;
  let t = p.tileBase + 4u * quad;
  let o0 = origin(t, c);
  let o1 = origin(t + 1u, c);
  let o2 = origin(t + 2u, c);
  let o3 = origin(t + 3u, c);
  var d: array<Line, 8>;
  for (var r = 0u; r < ALPHA; r++) {
    for (var q = 0u; q < ALPHA; q++) {
      let dy = i32(r);
      let dx = i32(q);
      d[r][q] = vec4f(pixel(o0.valid, o0.plane, o0.iy + dy, o0.ix + dx), pixel(o1.valid, o1.plane, o1.iy + dy, o1.ix + dx),
                      pixel(o2.valid, o2.plane, o2.iy + dy, o2.ix + dx), pixel(o3.valid, o3.plane, o3.iy + dy, o3.ix + dx));
    }
  }
  // Rows of the window first (d B), then columns (B^T (d B)).
  var rows: array<Line, 8>;
  for (var r = 0u; r < ALPHA; r++) { rows[r] = dataLine(d[r]); }
  for (var q = 0u; q < ALPHA; q++) {
    let col = dataLine(Line(rows[0][q], rows[1][q], rows[2][q], rows[3][q], rows[4][q], rows[5][q], rows[6][q], rows[7][q]));
    for (var r = 0u; r < ALPHA; r++) {
      v[((r * ALPHA + q) * 4u * p.Ci4 + c) * TQ + quad] = col[r];
    }
  }
}
