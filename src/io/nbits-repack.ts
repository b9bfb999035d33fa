/**
 * ggml quantized rows → ONNX Runtime's block-quantized matmul layout (`com.microsoft`
 * MatMulNBits): per output feature n, K/32 blocks of 32 weights, each block a little blob of
 * packed unsigned integers (4 bits: element 2i in the low nibble of byte i, 2i+1 in the high
 * one; 8 bits: one byte each), a float32 scale and optionally a float32 zero point, so that
 * w = (q − zero) × scale, the zero defaulting to 2^(bits−1).
 *
 * Where a ggml format has this shape the bytes are rearranged exactly (Q4_0, Q8_0; Q4_1 and
 * Q4_K through float zero points, up to float32 rounding of zero × scale). Other formats
 * (Q5_*, Q6_K, Q2_K, Q3_K, Q8_K, F16, BF16, F32) are dequantized and requantized to 8 bits
 * per 32 weights (symmetric, scale = max|w|/127): the nearest supported layout that loses
 * no more than half a step of 1/127 of each block's largest weight.
 */
import { f16Table32 } from './dtype.js';
import { GgmlType, dequantize, ggmlTypeInfo, ggmlTypeName, scaleMinK4 } from './ggml-quants.js';

export const NBITS_BLOCK = 32;

interface NBitsLayout {
  readonly bits: 4 | 8;
  /** Float zero points stored (else the default 2^(bits−1)). */
  readonly zeros: boolean;
  /** The source's values are reproduced (up to float32 rounding), not requantized. */
  readonly exact: boolean;
}

/** How a ggml type is kept in memory, or undefined when steerer cannot read it at all. */
export function nbitsLayout(type: GgmlType): NBitsLayout | undefined {
  switch (type) {
    case GgmlType.Q4_0:
      return { bits: 4, zeros: false, exact: true };
    case GgmlType.Q8_0:
      return { bits: 8, zeros: false, exact: true };
    case GgmlType.Q4_1:
    case GgmlType.Q4_K:
      return { bits: 4, zeros: true, exact: true };
    default:
      return ggmlTypeInfo(type)?.readable ? { bits: 8, zeros: false, exact: false } : undefined;
  }
}

/** Bytes of one row's packed weights: K/32 blobs. */
export const nbitsBlobBytes = (bits: 4 | 8): number => (NBITS_BLOCK * bits) / 8;

/** Destination of `repackRows`: row r's blocks start at r × K/32. */
export interface NBitsRows {
  /** [rows, K/32, blob] */
  readonly q: Uint8Array;
  /** [rows × K/32] */
  readonly scales: Float32Array;
  /** [rows × K/32], when the layout has zero points. */
  readonly zeros?: Float32Array;
}

/**
 * Repacks `rows` consecutive rows of K weights stored as `type` in `src` (exactly their bytes)
 * into `out` starting at row `at`. Throws RangeError for a K that is not whole blocks.
 */
export function repackRows(type: GgmlType, src: Uint8Array, rows: number, K: number, out: NBitsRows, at = 0): void {
  const info = ggmlTypeInfo(type);
  const layout = nbitsLayout(type);
  if (!info || !layout) throw new RangeError(`tensor type ${ggmlTypeName(type)} cannot be repacked`);
  if (K % NBITS_BLOCK !== 0 || K % info.blockSize !== 0) throw new RangeError(`rows of ${K} weights are not whole ${info.name} blocks of ${Math.max(NBITS_BLOCK, info.blockSize)}`);
  const kb = K / NBITS_BLOCK;
  const rowBytes = (K / info.blockSize) * info.typeSize;
  if (src.byteLength < rows * rowBytes) throw new RangeError(`${info.name} data is ${src.byteLength} bytes, need ${rows * rowBytes}`);
  const blob = nbitsBlobBytes(layout.bits);
  const t = f16Table32();
  const half = (o: number): number => t[src[o] | (src[o + 1] << 8)];
  const scratch = layout.exact ? undefined : new Float32Array(K);
  for (let r = 0; r < rows; r++) {
    const s0 = r * rowBytes;
    const b0 = (at + r) * kb;
    switch (type) {
      case GgmlType.Q4_0:
        for (let b = 0; b < kb; b++) {
          const o = s0 + b * 18;
          out.scales[b0 + b] = half(o);
          // ggml: elements j and j+16 share byte j; MatMulNBits: elements 2i and 2i+1 share byte i.
          nibblesToPairs(src, o + 2, out.q, (b0 + b) * blob);
        }
        break;
      case GgmlType.Q8_0:
        for (let b = 0; b < kb; b++) {
          const o = s0 + b * 34;
          out.scales[b0 + b] = half(o);
          const d = (b0 + b) * blob;
          // int8 q → uint8 q + 128 (the default zero point)
          for (let j = 0; j < 32; j++) out.q[d + j] = src[o + 2 + j] ^ 0x80;
        }
        break;
      case GgmlType.Q4_1:
        for (let b = 0; b < kb; b++) {
          const o = s0 + b * 20;
          const d = half(o);
          if (d === 0) setConstant(out, b0 + b, half(o + 2));
          else {
            setAffine(out, b0 + b, d, -half(o + 2));
            nibblesToPairs(src, o + 4, out.q, (b0 + b) * blob);
          }
        }
        break;
      case GgmlType.Q4_K:
        repackQ4K(src, s0, K / 256, out, b0, half);
        break;
      default: {
        // Dequantize the row, requantize it to 8 bits per 32 weights.
        const x = dequantize(type, src.subarray(s0, s0 + rowBytes), K, scratch);
        for (let b = 0; b < kb; b++) {
          let amax = 0;
          for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
          const scale = Math.fround(amax / 127);
          const inv = scale === 0 ? 0 : 1 / scale;
          out.scales[b0 + b] = scale;
          const d = (b0 + b) * blob;
          for (let j = 0; j < 32; j++) out.q[d + j] = Math.max(1, Math.min(255, Math.round(x[b * 32 + j] * inv) + 128));
        }
      }
    }
  }
}

/** w = d·q + m (d ≠ 0) as (q − zero)·scale: scale d, zero −m/d. */
function setAffine(out: NBitsRows, block: number, d: number, negMin: number): void {
  out.scales[block] = d;
  out.zeros![block] = negMin / d;
}

/**
 * A block of one value c (d = 0) as q = 8, scale 1, zero 8 − c. The graph multiplies by
 * (q − 8)·scale and adds the zero point's share apart (graph/segment.ts), so q = 8 keeps that
 * first product at 0 for such a block; q = 0 would make it −8 per weight, far above the block's
 * real values, and the int8 activations' rounding with it.
 */
function setConstant(out: NBitsRows, block: number, c: number): void {
  out.scales[block] = 1;
  out.zeros![block] = 8 - c;
  out.q.fill(0x88, block * 16, block * 16 + 16);
}

/** 16 bytes holding elements j (low nibble) and j+16 (high nibble) → pairs (2i low, 2i+1 high). */
function nibblesToPairs(src: Uint8Array, from: number, dst: Uint8Array, to: number): void {
  for (let i = 0; i < 16; i++) {
    const e0 = 2 * i;
    const e1 = e0 + 1;
    const lo = e0 < 16 ? src[from + e0] & 0xf : src[from + e0 - 16] >> 4;
    const hi = e1 < 16 ? src[from + e1] & 0xf : src[from + e1 - 16] >> 4;
    dst[to + i] = lo | (hi << 4);
  }
}

/**
 * Q4_K super-blocks (d, dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles): eight
 * sub-blocks of 32, sub-block 2j in the low nibbles of bytes 32j..32j+31, 2j+1 in the high
 * ones; w = d·sc·q − dmin·m.
 */
function repackQ4K(src: Uint8Array, s0: number, superBlocks: number, out: NBitsRows, b0: number, half: (o: number) => number): void {
  const sm = new Int32Array(2);
  for (let sb = 0; sb < superBlocks; sb++) {
    const o = s0 + sb * 144;
    const d = half(o);
    const dmin = half(o + 2);
    for (let sub = 0; sub < 8; sub++) {
      scaleMinK4(src, o + 4, sub, sm);
      const block = b0 + sb * 8 + sub;
      const ds = Math.fround(d * sm[0]);
      const ms = Math.fround(dmin * sm[1]);
      const qs = o + 16 + 32 * (sub >> 1);
      const shift = sub & 1 ? 4 : 0;
      const dst = block * 16;
      if (ds === 0) {
        setConstant(out, block, -ms);
        continue;
      }
      out.scales[block] = ds;
      out.zeros![block] = ms / ds;
      for (let i = 0; i < 16; i++) out.q[dst + i] = ((src[qs + 2 * i] >> shift) & 0xf) | (((src[qs + 2 * i + 1] >> shift) & 0xf) << 4);
    }
  }
}

/** Row r of a packed matrix back to float32 (K values): for embeddings and tests. */
export function unpackRow(rows: NBitsRows, bits: 4 | 8, K: number, r: number, out: Float32Array = new Float32Array(K)): Float32Array {
  const kb = K / NBITS_BLOCK;
  const blob = nbitsBlobBytes(bits);
  const defaultZero = bits === 4 ? 8 : 128;
  for (let b = 0; b < kb; b++) {
    const blk = r * kb + b;
    const scale = rows.scales[blk];
    const zero = rows.zeros ? rows.zeros[blk] : defaultZero;
    const q0 = blk * blob;
    for (let j = 0; j < NBITS_BLOCK; j++) {
      const q = bits === 8 ? rows.q[q0 + j] : j & 1 ? rows.q[q0 + (j >> 1)] >> 4 : rows.q[q0 + (j >> 1)] & 0xf;
      out[b * NBITS_BLOCK + j] = (q - zero) * scale;
    }
  }
  return out;
}
