/**
 * The geometry record of a convolution or pooling window, as the host writes it into linear
 * memory: 13 i32 — n, h, w, cin, cout, kh, kw, oh, ow, sh, sw, ph, pw (backends/wasm.ts,
 * `putGeometry`; pooling has cin = cout and no padding).
 *
 * Law (laws/backend-agreement.test.ts): the wasm backend's convolutions and pooling, which read
 * every field of it, agree with the cpu64 reference.
 */
@unmanaged
export class Geom {
  n: i32;
  h: i32;
  w: i32;
  cin: i32;
  cout: i32;
  kh: i32;
  kw: i32;
  oh: i32;
  ow: i32;
  sh: i32;
  sw: i32;
  ph: i32;
  pw: i32;
}
