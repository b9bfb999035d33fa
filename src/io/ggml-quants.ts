/**
 * ggml tensor types: block geometry, dequantizers to float32, and reference-style
 * quantizers for Q8_0 and Q4_0 (enough to write test and export files).
 *
 * Block layouts follow ggml's ggml-common.h; every multi-byte field is little-endian.
 * All readers index bytes directly, so input needs no alignment.
 */
import { f16Table32, f32ToF16, decodeToF32 } from './dtype.js';

export enum GgmlType {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  // Types this module can size (so files containing them open) but not dequantize.
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
}

const QK_K = 256;

interface GgmlTypeInfo {
  readonly name: string;
  /** Elements per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** Whether dequantize() handles it. */
  readonly readable: boolean;
}

const T = (name: string, blockSize: number, typeSize: number, readable = true): GgmlTypeInfo => ({ name, blockSize, typeSize, readable });

const TYPE_INFO: ReadonlyMap<number, GgmlTypeInfo> = new Map<number, GgmlTypeInfo>([
  [GgmlType.F32, T('F32', 1, 4)],
  [GgmlType.F16, T('F16', 1, 2)],
  [GgmlType.BF16, T('BF16', 1, 2)],
  [GgmlType.F64, T('F64', 1, 8)],
  [GgmlType.I8, T('I8', 1, 1)],
  [GgmlType.I16, T('I16', 1, 2)],
  [GgmlType.I32, T('I32', 1, 4)],
  [GgmlType.I64, T('I64', 1, 8)],
  [GgmlType.Q4_0, T('Q4_0', 32, 18)],
  [GgmlType.Q4_1, T('Q4_1', 32, 20)],
  [GgmlType.Q5_0, T('Q5_0', 32, 22)],
  [GgmlType.Q5_1, T('Q5_1', 32, 24)],
  [GgmlType.Q8_0, T('Q8_0', 32, 34)],
  [GgmlType.Q8_1, T('Q8_1', 32, 36)],
  [GgmlType.Q2_K, T('Q2_K', QK_K, 84)],
  [GgmlType.Q3_K, T('Q3_K', QK_K, 110)],
  [GgmlType.Q4_K, T('Q4_K', QK_K, 144)],
  [GgmlType.Q5_K, T('Q5_K', QK_K, 176)],
  [GgmlType.Q6_K, T('Q6_K', QK_K, 210)],
  [GgmlType.Q8_K, T('Q8_K', QK_K, 292)],
  [GgmlType.IQ2_XXS, T('IQ2_XXS', QK_K, 66, false)],
  [GgmlType.IQ2_XS, T('IQ2_XS', QK_K, 74, false)],
  [GgmlType.IQ3_XXS, T('IQ3_XXS', QK_K, 98, false)],
  [GgmlType.IQ1_S, T('IQ1_S', QK_K, 50, false)],
  [GgmlType.IQ4_NL, T('IQ4_NL', 32, 18, false)],
  [GgmlType.IQ3_S, T('IQ3_S', QK_K, 110, false)],
  [GgmlType.IQ2_S, T('IQ2_S', QK_K, 82, false)],
  [GgmlType.IQ4_XS, T('IQ4_XS', QK_K, 136, false)],
  [GgmlType.IQ1_M, T('IQ1_M', QK_K, 56, false)],
  [GgmlType.TQ1_0, T('TQ1_0', QK_K, 54, false)],
  [GgmlType.TQ2_0, T('TQ2_0', QK_K, 66, false)],
  [GgmlType.MXFP4, T('MXFP4', 32, 17, false)],
]);

/** Geometry of a ggml type, or undefined for a number ggml does not define (or that was removed). */
export function ggmlTypeInfo(type: number): GgmlTypeInfo | undefined {
  return TYPE_INFO.get(type);
}

export function ggmlTypeName(type: number): string {
  return TYPE_INFO.get(type)?.name ?? `type ${type}`;
}

/** Thrown for a type that is known but has no dequantizer; callers wrap it with the file name. */
class UnsupportedGgmlTypeError extends Error {
  constructor(readonly type: number) {
    super(`tensor type ${ggmlTypeName(type)} is not supported for reading`);
    this.name = 'UnsupportedGgmlTypeError';
  }
}

const fr = Math.fround;

function half(src: Uint8Array, o: number, table: Float32Array): number {
  return table[src[o] | (src[o + 1] << 8)];
}

// --- 32-element block types ------------------------------------------------------------------

function deqQ4_0(src: Uint8Array, out: Float32Array, nb: number): void {
  const t = f16Table32();
  for (let b = 0; b < nb; b++) {
    const o = b * 18, y = b * 32;
    const d = half(src, o, t);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      out[y + j] = ((q & 0xf) - 8) * d;
      out[y + j + 16] = ((q >> 4) - 8) * d;
    }
  }
}

function deqQ4_1(src: Uint8Array, out: Float32Array, nb: number): void {
  const t = f16Table32();
  for (let b = 0; b < nb; b++) {
    const o = b * 20, y = b * 32;
    const d = half(src, o, t), m = half(src, o + 2, t);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 4 + j];
      out[y + j] = (q & 0xf) * d + m;
      out[y + j + 16] = (q >> 4) * d + m;
    }
  }
}

/** Q5_0/Q5_1: 16 bytes of low nibbles plus a 32-bit word holding each element's 5th bit. */
function deqQ5(src: Uint8Array, out: Float32Array, nb: number, withMin: boolean): void {
  const t = f16Table32();
  const size = withMin ? 24 : 22;
  for (let b = 0; b < nb; b++) {
    const o = b * size, y = b * 32;
    const d = half(src, o, t);
    const m = withMin ? half(src, o + 2, t) : 0;
    const ho = withMin ? o + 4 : o + 2;
    const qh = (src[ho] | (src[ho + 1] << 8) | (src[ho + 2] << 16) | (src[ho + 3] << 24)) >>> 0;
    const qs = ho + 4;
    const bias = withMin ? 0 : 16;
    for (let j = 0; j < 16; j++) {
      const q = src[qs + j];
      const x0 = ((q & 0xf) | (((qh >>> j) & 1) << 4)) - bias;
      const x1 = ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - bias;
      out[y + j] = x0 * d + m;
      out[y + j + 16] = x1 * d + m;
    }
  }
}

/** Q8_0 (34-byte blocks) and Q8_1 (36: an extra f16 sum that dequantization ignores). */
function deqQ8(src: Uint8Array, out: Float32Array, nb: number, size: number): void {
  const t = f16Table32();
  const qoff = size - 32;
  for (let b = 0; b < nb; b++) {
    const o = b * size, y = b * 32;
    const d = half(src, o, t);
    for (let j = 0; j < 32; j++) out[y + j] = ((src[o + qoff + j] << 24) >> 24) * d;
  }
}

// --- K-quants (256-element super-blocks) -----------------------------------------------------

function deqQ2_K(src: Uint8Array, out: Float32Array, nb: number): void {
  // layout: scales[16] (low nibble scale, high nibble min), qs[64] (2-bit), d, dmin
  const t = f16Table32();
  for (let b = 0; b < nb; b++) {
    const o = b * 84;
    const d = half(src, o + 80, t), dmin = half(src, o + 82, t);
    let y = b * QK_K;
    let is = 0;
    for (let n = 0; n < 2; n++) {
      const q = o + 16 + n * 32;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half16 = 0; half16 < 2; half16++) {
          const sc = src[o + is++];
          const dl = fr(d * (sc & 0xf)), ml = fr(dmin * (sc >> 4));
          const qq = q + half16 * 16;
          for (let l = 0; l < 16; l++) out[y++] = dl * ((src[qq + l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

function deqQ3_K(src: Uint8Array, out: Float32Array, nb: number): void {
  // layout: hmask[32] (high bit, inverted sense), qs[64] (low 2 bits), scales[12] (16 x 6-bit), d
  const t = f16Table32();
  const sc = new Int32Array(16);
  for (let b = 0; b < nb; b++) {
    const o = b * 110;
    const d = half(src, o + 108, t);
    const s = o + 96;
    for (let k = 0; k < 16; k++) {
      // Low 4 bits: nibbles of bytes 0..7 (low nibble for k<8); high 2 bits: 2-bit fields of bytes 8..11.
      const low = k < 8 ? src[s + k] & 0xf : src[s + k - 8] >> 4;
      const high = (src[s + 8 + (k & 3)] >> (2 * (k >> 2))) & 3;
      sc[k] = (low | (high << 4)) - 32;
    }
    let y = b * QK_K;
    let is = 0;
    let m = 1;
    for (let n = 0; n < 2; n++) {
      const q = o + 32 + n * 32;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half16 = 0; half16 < 2; half16++) {
          const dl = fr(d * sc[is++]);
          const base = half16 * 16;
          for (let l = 0; l < 16; l++) {
            const v = ((src[q + base + l] >> shift) & 3) - (src[o + base + l] & m ? 0 : 4);
            out[y++] = dl * v;
          }
        }
        m <<= 1;
      }
    }
  }
}

/** The 6-bit scale and min of sub-block j (0..7) packed in 12 bytes at `p` (Q4_K, Q5_K). */
export function scaleMinK4(src: Uint8Array, p: number, j: number, res: Int32Array): void {
  if (j < 4) {
    res[0] = src[p + j] & 63;
    res[1] = src[p + j + 4] & 63;
  } else {
    res[0] = (src[p + j + 4] & 0xf) | ((src[p + j - 4] >> 6) << 4);
    res[1] = (src[p + j + 4] >> 4) | ((src[p + j] >> 6) << 4);
  }
}

function deqQ4_K(src: Uint8Array, out: Float32Array, nb: number): void {
  // layout: d, dmin, scales[12], qs[128]; 8 sub-blocks of 32, each d*sc*q - dmin*m
  const t = f16Table32();
  const sm = new Int32Array(2);
  for (let b = 0; b < nb; b++) {
    const o = b * 144;
    const d = half(src, o, t), dmin = half(src, o + 2, t);
    let y = b * QK_K;
    for (let j = 0; j < 4; j++) {
      scaleMinK4(src, o + 4, 2 * j, sm);
      const d1 = fr(d * sm[0]), m1 = fr(dmin * sm[1]);
      scaleMinK4(src, o + 4, 2 * j + 1, sm);
      const d2 = fr(d * sm[0]), m2 = fr(dmin * sm[1]);
      const q = o + 16 + 32 * j;
      for (let l = 0; l < 32; l++) out[y++] = d1 * (src[q + l] & 0xf) - m1;
      for (let l = 0; l < 32; l++) out[y++] = d2 * (src[q + l] >> 4) - m2;
    }
  }
}

function deqQ5_K(src: Uint8Array, out: Float32Array, nb: number): void {
  // layout: d, dmin, scales[12], qh[32] (bit g of qh[l] = 5th bit of sub-block g), qs[128]
  const t = f16Table32();
  const sm = new Int32Array(2);
  for (let b = 0; b < nb; b++) {
    const o = b * 176;
    const d = half(src, o, t), dmin = half(src, o + 2, t);
    const qh = o + 16;
    let y = b * QK_K;
    for (let j = 0; j < 4; j++) {
      scaleMinK4(src, o + 4, 2 * j, sm);
      const d1 = fr(d * sm[0]), m1 = fr(dmin * sm[1]);
      scaleMinK4(src, o + 4, 2 * j + 1, sm);
      const d2 = fr(d * sm[0]), m2 = fr(dmin * sm[1]);
      const u1 = 1 << (2 * j), u2 = 2 << (2 * j);
      const q = o + 48 + 32 * j;
      for (let l = 0; l < 32; l++) out[y++] = d1 * ((src[q + l] & 0xf) + (src[qh + l] & u1 ? 16 : 0)) - m1;
      for (let l = 0; l < 32; l++) out[y++] = d2 * ((src[q + l] >> 4) + (src[qh + l] & u2 ? 16 : 0)) - m2;
    }
  }
}

function deqQ6_K(src: Uint8Array, out: Float32Array, nb: number): void {
  // layout: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d
  const t = f16Table32();
  for (let b = 0; b < nb; b++) {
    const o = b * 210;
    const d = half(src, o + 208, t);
    for (let n = 0; n < 2; n++) {
      const ql = o + n * 64, qh = o + 128 + n * 32, sc = o + 192 + n * 8;
      const y = b * QK_K + n * 128;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l];
        const q1 = ((src[ql + l] & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = fr(d * ((src[sc + is] << 24) >> 24)) * q1;
        out[y + l + 32] = fr(d * ((src[sc + is + 2] << 24) >> 24)) * q2;
        out[y + l + 64] = fr(d * ((src[sc + is + 4] << 24) >> 24)) * q3;
        out[y + l + 96] = fr(d * ((src[sc + is + 6] << 24) >> 24)) * q4;
      }
    }
  }
}

function deqQ8_K(src: Uint8Array, out: Float32Array, nb: number): void {
  // layout: f32 d, int8 qs[256], int16 bsums[16] (bsums only speed up dot products)
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < nb; b++) {
    const o = b * 292;
    const d = dv.getFloat32(o, true);
    for (let j = 0; j < QK_K; j++) out[b * QK_K + j] = ((src[o + 4 + j] << 24) >> 24) * d;
  }
}

/**
 * Dequantize `numel` elements of `type` from `src` (exactly the tensor's bytes, any alignment).
 * Throws RangeError when `src` is too short or `numel` is not whole blocks,
 * UnsupportedGgmlTypeError for a type without a dequantizer.
 */
export function dequantize(type: GgmlType, src: Uint8Array, numel: number, out?: Float32Array): Float32Array {
  const info = TYPE_INFO.get(type);
  if (!info || !info.readable) throw new UnsupportedGgmlTypeError(type);
  if (numel % info.blockSize !== 0) throw new RangeError(`${numel} elements is not a whole number of ${info.name} blocks of ${info.blockSize}`);
  const nb = numel / info.blockSize;
  if (src.byteLength < nb * info.typeSize) throw new RangeError(`${info.name} data is ${src.byteLength} bytes, need ${nb * info.typeSize}`);
  const dst = out ?? new Float32Array(numel);
  if (dst.length < numel) throw new RangeError(`output holds ${dst.length} values, need ${numel}`);
  switch (type) {
    case GgmlType.F32: return decodeToF32(src, 'f32', numel, dst);
    case GgmlType.F16: return decodeToF32(src, 'f16', numel, dst);
    case GgmlType.BF16: return decodeToF32(src, 'bf16', numel, dst);
    case GgmlType.F64: return decodeToF32(src, 'f64', numel, dst);
    case GgmlType.I8: return decodeToF32(src, 'i8', numel, dst);
    case GgmlType.I16: return decodeToF32(src, 'i16', numel, dst);
    case GgmlType.I32: return decodeToF32(src, 'i32', numel, dst);
    case GgmlType.I64: return decodeToF32(src, 'i64', numel, dst);
    case GgmlType.Q4_0: deqQ4_0(src, dst, nb); break;
    case GgmlType.Q4_1: deqQ4_1(src, dst, nb); break;
    case GgmlType.Q5_0: deqQ5(src, dst, nb, false); break;
    case GgmlType.Q5_1: deqQ5(src, dst, nb, true); break;
    case GgmlType.Q8_0: deqQ8(src, dst, nb, 34); break;
    case GgmlType.Q8_1: deqQ8(src, dst, nb, 36); break;
    case GgmlType.Q2_K: deqQ2_K(src, dst, nb); break;
    case GgmlType.Q3_K: deqQ3_K(src, dst, nb); break;
    case GgmlType.Q4_K: deqQ4_K(src, dst, nb); break;
    case GgmlType.Q5_K: deqQ5_K(src, dst, nb); break;
    case GgmlType.Q6_K: deqQ6_K(src, dst, nb); break;
    case GgmlType.Q8_K: deqQ8_K(src, dst, nb); break;
    default: throw new UnsupportedGgmlTypeError(type);
  }
  return dst;
}

// --- quantizers (ggml's *_ref algorithms, float32 arithmetic emulated with fround) ----------

function checkBlocks(data: Float32Array, what: string): number {
  if (data.length % 32 !== 0) throw new RangeError(`${what} needs a multiple of 32 values, got ${data.length}`);
  return data.length / 32;
}

function putHalf(dst: Uint8Array, o: number, v: number): void {
  const h = f32ToF16(v);
  dst[o] = h & 0xff;
  dst[o + 1] = h >>> 8;
}

/** C's roundf: halves away from zero. */
function roundAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** Q8_0: per 32 values d = absmax/127 (stored as f16), q = round(x/d). */
export function quantizeQ8_0(data: Float32Array): Uint8Array {
  const nb = checkBlocks(data, 'Q8_0');
  const out = new Uint8Array(nb * 34);
  for (let b = 0; b < nb; b++) {
    const x = b * 32, o = b * 34;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(data[x + j]));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    putHalf(out, o, d);
    for (let j = 0; j < 32; j++) out[o + 2 + j] = roundAway(fr(data[x + j] * id)) & 0xff;
  }
  return out;
}

/** Q4_0: per 32 values d = (value of largest magnitude)/-8 (f16), q = min(15, trunc(x/d + 8.5)). */
export function quantizeQ4_0(data: Float32Array): Uint8Array {
  const nb = checkBlocks(data, 'Q4_0');
  const out = new Uint8Array(nb * 18);
  for (let b = 0; b < nb; b++) {
    const x = b * 32, o = b * 18;
    let amax = 0, max = 0;
    for (let j = 0; j < 32; j++) {
      const v = data[x + j];
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    putHalf(out, o, d);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(fr(fr(data[x + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(data[x + j + 16] * id) + 8.5)));
      out[o + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}
