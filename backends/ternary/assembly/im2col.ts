/**
 * The packed patch matrix of a ternary convolution, assembled from packed pixels (what
 * `quantPack` wrote) rows r0 … r0+count−1 at a time: `im2col` (any cin, a shift per tap),
 * `im2colStream` (pixels packed as one stream: a kernel row's taps moved a run at a time),
 * `im2colTaps` (cin 16, 32 or a multiple of 64: one move per tap), and for 3×3 kernels over 16
 * or 32 channels `planes` (the stream as two bitplanes) and `im2col3x3` (a kernel row's taps read
 * from them with unaligned loads). backends/ternary/layer.ts picks one per layer; all four give the
 * same rows, bit for bit.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): a layer's outputs equal the reference
 * implementation's bit for bit, for every geometry and channel count.
 */

/**
 * Rows r0 … r0+count−1 of the patch matrix of a convolution, packed, at `dst` (each row K =
 * kh·kw·cin lanes, channels innermost), from the packed pixels at `pix` (n·h·w rows of cin lanes):
 * tap t's lanes are the pixel's bits moved to lane t·cin, 64 at a time (a shift and two ORs
 * where they straddle a word); taps outside the image stay zero.
 */
export function im2col(pix: usize, h: i32, w: i32, cin: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, r0: i32, count: i32, dst: usize): void {
  const pg = (cin + 63) >> 6;
  const groups = (kh * kw * cin + 63) >> 6;
  const rowB = <usize>groups << 4;
  const plane = oh * ow;
  let b = r0 / plane;
  const rem = r0 - b * plane;
  let oy = rem / ow;
  let ox = rem - oy * ow;
  memory.fill(dst, 0, <usize>count * rowB);
  for (let r = 0; r < count; r++) {
    const d = dst + <usize>r * rowB;
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * sh - ph + ky;
      if (iy < 0 || iy >= h) continue;
      for (let kx = 0; kx < kw; kx++) {
        const ix = ox * sw - pw + kx;
        if (ix < 0 || ix >= w) continue;
        const src = pix + ((<usize>((b * h + iy) * w + ix) * <usize>pg) << 4);
        let L = (ky * kw + kx) * cin;
        for (let g = 0; g < pg; g++, L += 64) {
          const nz = load<u64>(src + (<usize>g << 4));
          const sg = load<u64>(src + (<usize>g << 4), 8);
          const wd = d + (<usize>(L >> 6) << 4);
          const s = <u64>(L & 63);
          store<u64>(wd, load<u64>(wd) | (nz << s));
          store<u64>(wd, load<u64>(wd, 8) | (sg << s), 8);
          if (s != 0 && <i32>s + min(64, cin - g * 64) > 64) {
            store<u64>(wd, load<u64>(wd, 16) | (nz >> (64 - s)), 16);
            store<u64>(wd, load<u64>(wd, 24) | (sg >> (64 - s)), 24);
          }
        }
      }
    }
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
}

/**
 * `im2col` from the packed pixels as one stream (pixel p's channel c at lane p·cin + c, as
 * `quantPack` writes with `stream`): the taps of one kernel row inside the image are consecutive
 * pixels, so they are consecutive lanes of the stream, moved up to 64 at a time; each patch row is
 * written front to back, a group at a time, from lanes gathered in locals (no clearing, no
 * read-modify-write). The stream is read up to one group past its end.
 */
export function im2colStream(pix: usize, h: i32, w: i32, cin: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, r0: i32, count: i32, dst: usize): void {
  const span = kw * cin;
  const groups = (kh * span + 63) >> 6;
  const rowB = <usize>groups << 4;
  const plane = oh * ow;
  let b = r0 / plane;
  const rem = r0 - b * plane;
  let oy = rem / ow;
  let ox = rem - oy * ow;
  for (let r = 0; r < count; r++) {
    let at = dst + <usize>r * rowB;
    let accN: u64 = 0;
    let accS: u64 = 0;
    let fill = 0;
    const ix0 = ox * sw - pw;
    const kx0 = min(kw, max(0, -ix0));
    const kx1 = max(kx0, min(kw, w - ix0));
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * sh - ph + ky;
      const inside = iy >= 0 && iy < h;
      // lanes [0, z0) and [z1, span) of this kernel row are zero, [z0, z1) come from the stream at src
      const z0 = inside ? kx0 * cin : span;
      const z1 = inside ? kx1 * cin : span;
      const src = ((b * h + iy) * w + ix0 + kx0) * cin - z0;
      for (let t = 0; t < span; ) {
        let len: i32;
        let bn: u64 = 0;
        let bs: u64 = 0;
        if (t < z0) len = min(64, z0 - t);
        else if (t < z1) {
          len = min(64, z1 - t);
          const pos = src + t;
          const p = pix + (<usize>(pos >> 6) << 4);
          const s = <u64>(pos & 63);
          bn = load<u64>(p) >> s;
          bs = load<u64>(p, 8) >> s;
          if (s != 0 && <i32>s + len > 64) {
            bn |= load<u64>(p, 16) << (64 - s);
            bs |= load<u64>(p, 24) << (64 - s);
          }
          const mask: u64 = len >= 64 ? <u64>-1 : (<u64>1 << <u64>len) - 1;
          bn &= mask;
          bs &= mask;
        } else len = min(64, span - t);
        t += len;
        // append len lanes; store each group as it fills
        if (fill == 0) {
          accN = bn;
          accS = bs;
        } else {
          accN |= bn << <u64>fill;
          accS |= bs << <u64>fill;
        }
        if (fill + len >= 64) {
          store<u64>(at, accN);
          store<u64>(at, accS, 8);
          at += 16;
          accN = fill == 0 ? 0 : bn >> <u64>(64 - fill);
          accS = fill == 0 ? 0 : bs >> <u64>(64 - fill);
          fill += len - 64;
        } else fill += len;
      }
    }
    if (fill > 0) {
      store<u64>(at, accN);
      store<u64>(at, accS, 8);
    }
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
}

/**
 * Byte offset of slot q of a packed row or stream whose slots are one T of each bitplane (T = u32:
 * 32 lanes, 2 slots a group; u16: 16 lanes, 4 a group); the sign half is 8 bytes on.
 */
@inline
function slotByte<T>(q: i32): usize {
  const per = <u32>(8 / sizeof<T>());
  return (<usize>(<u32>q / per) << 4) + <usize>(<u32>q % per) * sizeof<T>();
}

/**
 * A patch row at d whose taps are all inside the image, for cin = 16 (T = u16) or 32 (T = u32):
 * tap (ky, kx) is slot ky·kw + kx, moved from slot p0 + ky·w + kx of the stream at pix; the
 * slots after the last tap (the padding lanes of the row's `groups` groups) are cleared.
 */
@inline
function tapMoves<T>(pix: usize, d: usize, p0: i32, w: i32, kh: i32, kw: i32, groups: i32): void {
  let t = 0;
  for (let ky = 0; ky < kh; ky++) {
    let q = p0 + ky * w;
    for (let kx = 0; kx < kw; kx++, q++, t++) {
      const src = pix + slotByte<T>(q);
      const at = d + slotByte<T>(t);
      store<T>(at, load<T>(src));
      store<T>(at, load<T>(src, 8), 8);
    }
  }
  for (const end = groups * <i32>(8 / sizeof<T>()); t < end; t++) {
    const at = d + slotByte<T>(t);
    store<T>(at, 0);
    store<T>(at, 0, 8);
  }
}

/**
 * `im2colStream` for the channel counts whose runs are aligned: cin = 16 or 32 (a tap is one u16
 * or u32 of each bitplane, in the stream as in the patch row, since both start at multiples of
 * cin lanes) or a multiple of 64 (a tap is cin/64 whole groups). Each tap inside the image is one
 * load and one store per bitplane (a copy of whole groups for cin ≥ 64); the rows are cleared
 * first, so the taps outside the image and the padding lanes are zero. Same result as
 * `im2colStream`, bit for bit.
 */
export function im2colTaps(pix: usize, h: i32, w: i32, cin: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, r0: i32, count: i32, dst: usize): void {
  const groups = (kh * kw * cin + 63) >> 6;
  const rowB = <usize>groups << 4;
  const tapB = <usize>(cin >> 6) << 4; // bytes of a tap of whole groups (cin ≥ 64)
  const plane = oh * ow;
  let b = r0 / plane;
  const rem = r0 - b * plane;
  let oy = rem / ow;
  let ox = rem - oy * ow;
  const taps = kh * kw;
  for (let r = 0; r < count; r++) {
    const d = dst + <usize>r * rowB;
    const iy0 = oy * sh - ph;
    const ix0 = ox * sw - pw;
    if (iy0 >= 0 && iy0 + kh <= h && ix0 >= 0 && ix0 + kw <= w) {
      // every tap inside the image: the taps in order, tap (ky, kx) from pixel p0 + ky·w + kx; of
      // the padding lanes after the last tap, only those are cleared
      const p0 = (b * h + iy0) * w + ix0;
      if (cin == 32) tapMoves<u32>(pix, d, p0, w, kh, kw, groups);
      else if (cin == 16) tapMoves<u16>(pix, d, p0, w, kh, kw, groups);
      else {
        const run = <usize>kw * tapB;
        for (let ky = 0; ky < kh; ky++) memory.copy(d + <usize>ky * run, pix + <usize>(p0 + ky * w) * tapB, run);
      }
    } else {
      memory.fill(d, 0, rowB);
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh - ph + ky;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * sw - pw + kx;
          if (ix < 0 || ix >= w) continue;
          const p = <usize>((b * h + iy) * w + ix); // pixel
          const t = <usize>(ky * kw + kx); // tap
          if (cin == 32) {
            const src = pix + slotByte<u32>(<i32>p);
            const at = d + slotByte<u32>(<i32>t);
            store<u32>(at, load<u32>(src));
            store<u32>(at, load<u32>(src, 8), 8);
          } else if (cin == 16) {
            const src = pix + slotByte<u16>(<i32>p);
            const at = d + slotByte<u16>(<i32>t);
            store<u16>(at, load<u16>(src));
            store<u16>(at, load<u16>(src, 8), 8);
          } else {
            memory.copy(d + t * tapB, pix + p * tapB, tapB);
          }
        }
      }
    }
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
}

/** Bytes of slack `planes` leaves before and after each bitplane (`im2col3x3` reads a little outside the pixels). */
const PLANE_SLACK: usize = 16;

/** Bytes `planes` writes for a stream of `groups` groups: two bitplanes of 8 bytes a group, each with slack on both sides. */
export function planesBytes(groups: i32): usize {
  return (<usize>groups << 4) + 4 * PLANE_SLACK;
}

/**
 * The stream of `groups` packed groups at `pix` as two bitplanes at `dst` (nz, then sign, each
 * `PLANE_SLACK` zero bytes, 8 bytes a group, `PLANE_SLACK` zero bytes): lane L of the stream is
 * then bit L of its plane read as one little-endian bit string, so the lanes of pixel q (cin a
 * multiple of 8) start at byte q·cin/8.
 */
export function planes(pix: usize, groups: i32, dst: usize): void {
  planesRange(pix, groups, dst, 0, groups);
}

/**
 * Groups g0 … g1 − 1 of `planes` (the slack too when g0 is 0): the part of the bitplanes that a part
 * of quantize-and-pack writes right after packing those groups (./tasks.ts).
 */
export function planesRange(pix: usize, groups: i32, dst: usize, g0: i32, g1: i32): void {
  const planeB = (<usize>groups << 3) + 2 * PLANE_SLACK;
  const nz = dst + PLANE_SLACK;
  const sg = nz + planeB;
  if (g0 == 0) {
    memory.fill(dst, 0, PLANE_SLACK);
    memory.fill(nz + (<usize>groups << 3), 0, 2 * PLANE_SLACK);
    memory.fill(sg + (<usize>groups << 3), 0, PLANE_SLACK);
  }
  for (let g = <usize>g0; g < <usize>g1; g++) {
    store<u64>(nz + (g << 3), load<u64>(pix + (g << 4)));
    store<u64>(sg + (g << 3), load<u64>(pix + (g << 4), 8));
  }
}

/**
 * One patch row of a 3×3 kernel over 16 channels at d (3 groups): kernel row ky's three taps are
 * the 48 bits at byte offset oky of the planes at nz and sg, when `hasKy` (else zero), masked by
 * `keep` (the taps inside the image in x).
 */
@inline
function row3x3c16(nz: usize, sg: usize, o0: usize, o1: usize, o2: usize, has0: bool, has1: bool, has2: bool, keep: u64, d: usize): void {
  const n0: u64 = has0 ? load<u64>(nz + o0) & keep : 0;
  const s0: u64 = has0 ? load<u64>(sg + o0) & keep : 0;
  const n1: u64 = has1 ? load<u64>(nz + o1) & keep : 0;
  const s1: u64 = has1 ? load<u64>(sg + o1) & keep : 0;
  const n2: u64 = has2 ? load<u64>(nz + o2) & keep : 0;
  const s2: u64 = has2 ? load<u64>(sg + o2) & keep : 0;
  // 144 lanes: [0, 48) kernel row 0, [48, 96) row 1, [96, 144) row 2
  store<u64>(d, n0 | (n1 << 48));
  store<u64>(d, s0 | (s1 << 48), 8);
  store<u64>(d, (n1 >> 16) | (n2 << 32), 16);
  store<u64>(d, (s1 >> 16) | (s2 << 32), 24);
  store<u64>(d, n2 >> 32, 32);
  store<u64>(d, s2 >> 32, 40);
}

/**
 * One patch row of a 3×3 kernel over 32 channels at d (5 groups): kernel row ky's taps 0 and 1
 * are the u64 at byte offset oky of the planes, tap 2 the u32 after it, when `hasKy` (else zero),
 * masked by keepLo and keepHi.
 */
@inline
function row3x3c32(nz: usize, sg: usize, o0: usize, o1: usize, o2: usize, has0: bool, has1: bool, has2: bool, keepLo: u64, keepHi: u64, d: usize): void {
  const n0: u64 = has0 ? load<u64>(nz + o0) & keepLo : 0;
  const s0: u64 = has0 ? load<u64>(sg + o0) & keepLo : 0;
  const m0: u64 = has0 ? <u64>load<u32>(nz + o0, 8) & keepHi : 0;
  const t0: u64 = has0 ? <u64>load<u32>(sg + o0, 8) & keepHi : 0;
  const n1: u64 = has1 ? load<u64>(nz + o1) & keepLo : 0;
  const s1: u64 = has1 ? load<u64>(sg + o1) & keepLo : 0;
  const m1: u64 = has1 ? <u64>load<u32>(nz + o1, 8) & keepHi : 0;
  const t1: u64 = has1 ? <u64>load<u32>(sg + o1, 8) & keepHi : 0;
  const n2: u64 = has2 ? load<u64>(nz + o2) & keepLo : 0;
  const s2: u64 = has2 ? load<u64>(sg + o2) & keepLo : 0;
  const m2: u64 = has2 ? <u64>load<u32>(nz + o2, 8) & keepHi : 0;
  const t2: u64 = has2 ? <u64>load<u32>(sg + o2, 8) & keepHi : 0;
  // 288 lanes: [0, 96) kernel row 0, [96, 192) row 1, [192, 288) row 2
  store<u64>(d, n0);
  store<u64>(d, s0, 8);
  store<u64>(d, m0 | (n1 << 32), 16);
  store<u64>(d, t0 | (s1 << 32), 24);
  store<u64>(d, (n1 >> 32) | (m1 << 32), 32);
  store<u64>(d, (s1 >> 32) | (t1 << 32), 40);
  store<u64>(d, n2, 48);
  store<u64>(d, s2, 56);
  store<u64>(d, m2, 64);
  store<u64>(d, t2, 72);
}

/**
 * `im2colTaps` for a 3×3 kernel over 16 or 32 channels, from the bitplanes of `planes` (at
 * `pl`, for a stream of `groups` groups; pw ≤ 2): a kernel row's three taps are 48 or 96
 * consecutive bits of a plane, read with unaligned loads, the taps outside the image masked off
 * (a row outside the image read as zero), and the patch row assembled with constant shifts: every
 * row is written whole, padding lanes zero. A run of outputs whose taps are all inside the image
 * goes through a loop without masks or checks. Same result as `im2colTaps`, bit for bit.
 */
export function im2col3x3(pl: usize, groups: i32, h: i32, w: i32, cin: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, r0: i32, count: i32, dst: usize): void {
  const nz = pl + PLANE_SLACK;
  const sg = nz + (<usize>groups << 3) + 2 * PLANE_SLACK;
  const plane = oh * ow;
  let b = r0 / plane;
  const rem = r0 - b * plane;
  let oy = rem / ow;
  let ox = rem - oy * ow;
  const pixB = <usize>(cin >> 3); // bytes of a pixel in a plane
  const wB = <usize>w * pixB; // bytes of an image row in a plane
  const rowB = <usize>(cin == 16 ? 3 : 5) << 4;
  // outputs ox ≤ oxIn have every tap inside the image in x from ox ≥ oxIn0 on
  const oxIn0 = (pw + sw - 1) / sw;
  const oxIn = (w - 3 + pw) / sw;
  let d = dst;
  for (let r = 0; r < count; ) {
    const iy0 = oy * sh - ph;
    const ix0 = ox * sw - pw;
    let o = <usize>((b * h + iy0) * w + ix0) * pixB; // tap (0, 0), inside the image or not
    if (iy0 >= 0 && iy0 + 3 <= h && ox >= oxIn0 && ox <= oxIn) {
      // a run of outputs with every tap inside the image
      const run = min(count - r, oxIn - ox + 1);
      const step = <usize>sw * pixB;
      const end = d + <usize>run * rowB;
      if (cin == 16) for (; d < end; d += rowB, o += step) row3x3c16(nz, sg, o, o + wB, o + 2 * wB, true, true, true, 0xffffffffffff, d);
      else for (; d < end; d += rowB, o += step) row3x3c32(nz, sg, o, o + wB, o + 2 * wB, true, true, true, <u64>-1, <u64>-1, d);
      r += run;
      ox += run;
    } else {
      // taps kx0 … kx1 − 1 are inside the image in x
      const kx0 = max(0, -ix0);
      const kx1 = min(3, w - ix0);
      const has0 = iy0 >= 0 && iy0 < h;
      const has1 = iy0 + 1 >= 0 && iy0 + 1 < h;
      const has2 = iy0 + 2 >= 0 && iy0 + 2 < h;
      if (cin == 16) {
        const keep: u64 = kx1 <= kx0 ? 0 : ((<u64>1 << <u64>(kx1 << 4)) - 1) & ~((<u64>1 << <u64>(kx0 << 4)) - 1);
        row3x3c16(nz, sg, o, o + wB, o + 2 * wB, has0, has1, has2, keep, d);
      } else {
        const keepLo: u64 = (kx0 <= 0 && kx1 >= 1 ? <u64>0xffffffff : 0) | (kx0 <= 1 && kx1 >= 2 ? <u64>0xffffffff00000000 : 0);
        const keepHi: u64 = kx1 >= 3 ? <u64>0xffffffff : 0;
        row3x3c32(nz, sg, o, o + wB, o + 2 * wB, has0, has1, has2, keepLo, keepHi, d);
      }
      d += rowB;
      r++;
      ox++;
    }
    if (ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
}
