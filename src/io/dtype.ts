/**
 * Scalar and bulk conversions between the number formats stored in model files
 * (little-endian on disk) and float32.
 *
 * Bulk decoders never assume the input is aligned: a Buffer slice from a file
 * read can start at any byte, and typed-array views need aligned offsets, so
 * unaligned input is copied into a fresh buffer first.
 */
import { endianness } from 'node:os';

/** True on every platform Node normally runs on; big-endian hosts take the DataView path. */
export const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

// Scratch views for bit-level float manipulation.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** IEEE half (as a 16-bit integer) to a JS number. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** float32 to IEEE half bits, round-to-nearest-even; overflow gives ±inf, NaN stays NaN. */
export function f32ToF16(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Result is subnormal (or zero): value = m * 2^(exp-150), half unit = 2^-24.
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && q & 1)) q++;
    return sign | q; // a carry into bit 10 correctly yields the smallest normal
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry may reach the exponent (up to inf): intended
  return sign | h;
}

/** bfloat16 bits to a JS number. */
export function bf16ToF32(b: number): number {
  scratchU32[0] = (b & 0xffff) << 16;
  return scratchF32[0];
}

/** float32 to bfloat16 bits, round-to-nearest-even; NaN stays a (quiet) NaN. */
export function f32ToBf16(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;
/** All 65536 half values as float32; 256 KiB, built on first use, makes bulk decoding a lookup. */
export function f16Table32(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}

/** Element kinds found in model files. */
export type ElementKind = 'f64' | 'f32' | 'f16' | 'bf16' | 'i64' | 'i32' | 'i16' | 'i8' | 'u64' | 'u32' | 'u16' | 'u8' | 'bool';

const ELEMENT_SIZE: Readonly<Record<ElementKind, number>> = {
  f64: 8, f32: 4, f16: 2, bf16: 2, i64: 8, i32: 4, i16: 2, i8: 1, u64: 8, u32: 4, u16: 2, u8: 1, bool: 1,
};

/** `bytes` itself when its offset suits a typed-array view of `align`, else an aligned copy. */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : new Uint8Array(bytes);
}

/**
 * Decode `count` little-endian elements of `kind` from `bytes` into float32.
 * `count` defaults to everything `bytes` holds; `out` (if given) must have room for `count`.
 */
export function decodeToF32(bytes: Uint8Array, kind: ElementKind, count?: number, out?: Float32Array): Float32Array {
  const size = ELEMENT_SIZE[kind];
  const n = count ?? Math.floor(bytes.byteLength / size);
  if (n * size > bytes.byteLength) throw new RangeError(`need ${n * size} bytes for ${n} ${kind} values, have ${bytes.byteLength}`);
  const dst = out ?? new Float32Array(n);
  if (dst.length < n) throw new RangeError(`output holds ${dst.length} values, need ${n}`);
  if (!HOST_IS_LITTLE_ENDIAN) {
    decodeWithDataView(bytes, kind, n, dst);
    return dst;
  }
  const src = aligned(bytes, size);
  const buf = src.buffer;
  const off = src.byteOffset;
  switch (kind) {
    case 'f32': dst.set(new Float32Array(buf, off, n)); break;
    case 'f64': { const s = new Float64Array(buf, off, n); for (let i = 0; i < n; i++) dst[i] = s[i]; break; }
    case 'f16': {
      const s = new Uint16Array(buf, off, n);
      const t = f16Table32();
      for (let i = 0; i < n; i++) dst[i] = t[s[i]];
      break;
    }
    case 'bf16': {
      const s = new Uint16Array(buf, off, n);
      const u = new Uint32Array(dst.buffer, dst.byteOffset, n);
      for (let i = 0; i < n; i++) u[i] = s[i] << 16;
      break;
    }
    case 'i64': { const s = new BigInt64Array(buf, off, n); for (let i = 0; i < n; i++) dst[i] = Number(s[i]); break; }
    case 'u64': { const s = new BigUint64Array(buf, off, n); for (let i = 0; i < n; i++) dst[i] = Number(s[i]); break; }
    case 'i32': { const s = new Int32Array(buf, off, n); for (let i = 0; i < n; i++) dst[i] = s[i]; break; }
    case 'u32': { const s = new Uint32Array(buf, off, n); for (let i = 0; i < n; i++) dst[i] = s[i]; break; }
    case 'i16': { const s = new Int16Array(buf, off, n); for (let i = 0; i < n; i++) dst[i] = s[i]; break; }
    case 'u16': { const s = new Uint16Array(buf, off, n); for (let i = 0; i < n; i++) dst[i] = s[i]; break; }
    case 'i8': { const s = new Int8Array(buf, off, n); for (let i = 0; i < n; i++) dst[i] = s[i]; break; }
    case 'u8': { const s = new Uint8Array(buf, off, n); for (let i = 0; i < n; i++) dst[i] = s[i]; break; }
    case 'bool': { const s = new Uint8Array(buf, off, n); for (let i = 0; i < n; i++) dst[i] = s[i] ? 1 : 0; break; }
  }
  return dst;
}

function decodeWithDataView(bytes: Uint8Array, kind: ElementKind, n: number, dst: Float32Array): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    switch (kind) {
      case 'f64': dst[i] = v.getFloat64(i * 8, true); break;
      case 'f32': dst[i] = v.getFloat32(i * 4, true); break;
      case 'f16': dst[i] = f16ToF32(v.getUint16(i * 2, true)); break;
      case 'bf16': dst[i] = bf16ToF32(v.getUint16(i * 2, true)); break;
      case 'i64': dst[i] = Number(v.getBigInt64(i * 8, true)); break;
      case 'u64': dst[i] = Number(v.getBigUint64(i * 8, true)); break;
      case 'i32': dst[i] = v.getInt32(i * 4, true); break;
      case 'u32': dst[i] = v.getUint32(i * 4, true); break;
      case 'i16': dst[i] = v.getInt16(i * 2, true); break;
      case 'u16': dst[i] = v.getUint16(i * 2, true); break;
      case 'i8': dst[i] = v.getInt8(i); break;
      case 'u8': dst[i] = v.getUint8(i); break;
      case 'bool': dst[i] = v.getUint8(i) ? 1 : 0; break;
    }
  }
}

/** Byte-swap 4-byte words in place (big-endian hosts only need this for float32 data read straight from disk). */
export function swap32InPlace(bytes: Uint8Array): void {
  for (let i = 0; i + 3 < bytes.length; i += 4) {
    const a = bytes[i], b = bytes[i + 1];
    bytes[i] = bytes[i + 3]; bytes[i + 1] = bytes[i + 2]; bytes[i + 2] = b; bytes[i + 3] = a;
  }
}

/** float32 values to little-endian f32/f16/bf16 bytes. For f32 on a little-endian host this is a view, not a copy. */
export function encodeF32(data: Float32Array, kind: 'f32' | 'f16' | 'bf16'): Uint8Array {
  const n = data.length;
  if (kind === 'f32') {
    if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const out = new Uint8Array(n * 4);
    const v = new DataView(out.buffer);
    for (let i = 0; i < n; i++) v.setFloat32(i * 4, data[i], true);
    return out;
  }
  const out = new Uint8Array(n * 2);
  const conv = kind === 'f16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < n; i++) {
    const h = conv(data[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/** int32 values to little-endian bytes (a view, not a copy, on a little-endian host). */
export function encodeI32(data: Int32Array): Uint8Array {
  if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) v.setInt32(i * 4, data[i], true);
  return out;
}
