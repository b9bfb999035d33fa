/**
 * The low-level half of GGUF reading, apart from GgufFile: a header can claim any count or length,
 * so every value is decoded here through one bounds-checked window before anything is allocated
 * from it, and a hostile or truncated file fails with a clear message instead of a huge allocation.
 */
import { ModelFileError } from './errors.js';
import { readFully } from './files.js';
import { MIN_SIZE, TYPE_IDS, type GgufStoredType, type GgufValue } from './gguf-format.js';

const MAX_ARRAY_DEPTH = 8; // ggml writes no nested arrays at all; the limit keeps recursion bounded
const MAX_STRING_BYTES = 1 << 28;
const MAX_ARRAY_ITEMS = 1 << 28;
const WINDOW = 1 << 20;
/** Largest 64-bit value that converts to a number exactly. */
export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Sequential reader over a file through a window buffer, with every read bounds-checked. */
export class HeaderReader {
  pos = 0;
  private buf = Buffer.allocUnsafe(WINDOW);
  private bufPos = 0;
  private bufLen = 0;

  constructor(private readonly fd: number, readonly size: number, private readonly path: string) {}

  fail(problem: string): never {
    throw new ModelFileError(this.path, problem);
  }

  remaining(): number {
    return this.size - this.pos;
  }

  /** Make `n` bytes at `pos` available; returns their offset in `buf`. */
  private take(n: number, what: string): number {
    if (n > this.size - this.pos) this.fail(`file ends inside ${what} (byte ${this.pos} of ${this.size}; truncated?)`);
    let at: number;
    if (this.pos >= this.bufPos && this.pos + n <= this.bufPos + this.bufLen) {
      at = this.pos - this.bufPos;
    } else {
      const len = Math.min(Math.max(n, WINDOW), this.size - this.pos);
      if (len > this.buf.length) this.buf = Buffer.allocUnsafe(len);
      readFully(this.fd, this.buf.subarray(0, len), this.pos, this.path);
      this.bufPos = this.pos;
      this.bufLen = len;
      at = 0;
    }
    this.pos += n;
    return at;
  }

  u8(what: string): number { return this.buf.readUInt8(this.take(1, what)); }
  i8(what: string): number { return this.buf.readInt8(this.take(1, what)); }
  u16(what: string): number { return this.buf.readUInt16LE(this.take(2, what)); }
  i16(what: string): number { return this.buf.readInt16LE(this.take(2, what)); }
  u32(what: string): number { return this.buf.readUInt32LE(this.take(4, what)); }
  i32(what: string): number { return this.buf.readInt32LE(this.take(4, what)); }
  u64(what: string): bigint { return this.buf.readBigUInt64LE(this.take(8, what)); }
  i64(what: string): bigint { return this.buf.readBigInt64LE(this.take(8, what)); }
  f32(what: string): number { return this.buf.readFloatLE(this.take(4, what)); }
  f64(what: string): number { return this.buf.readDoubleLE(this.take(8, what)); }

  /** A u64 that must fit in the rest of the file when multiplied by `unit` (a count or a length). */
  count(what: string, unit: number): number {
    const n = this.u64(what);
    if (n * BigInt(unit) > BigInt(this.remaining())) {
      this.fail(`${what} ${n} is impossible: only ${this.remaining()} bytes remain in the file`);
    }
    return Number(n);
  }

  string(what: string): string {
    const len = this.count(`length of ${what}`, 1);
    if (len > MAX_STRING_BYTES) this.fail(`${what} is ${len} bytes long, more than the ${MAX_STRING_BYTES}-byte limit`);
    const at = this.take(len, what);
    return this.buf.toString('utf8', at, at + len);
  }
}

function toNumberOrBigint(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v;
}

/** One value of type `typeId` (recursing into arrays), with how it was stored. */
export function readValue(r: HeaderReader, typeId: number, what: string, depth: number): { value: GgufValue; stored: GgufStoredType } {
  const type = TYPE_IDS[typeId];
  if (type === undefined) r.fail(`${what} has unknown value type ${typeId}`);
  switch (type) {
    case 'u8': return { value: r.u8(what), stored: { type } };
    case 'i8': return { value: r.i8(what), stored: { type } };
    case 'u16': return { value: r.u16(what), stored: { type } };
    case 'i16': return { value: r.i16(what), stored: { type } };
    case 'u32': return { value: r.u32(what), stored: { type } };
    case 'i32': return { value: r.i32(what), stored: { type } };
    case 'u64': return { value: toNumberOrBigint(r.u64(what)), stored: { type } };
    case 'i64': return { value: toNumberOrBigint(r.i64(what)), stored: { type } };
    case 'f32': return { value: r.f32(what), stored: { type } };
    case 'f64': return { value: r.f64(what), stored: { type } };
    case 'bool': {
      const b = r.u8(what);
      if (b > 1) r.fail(`${what} is a bool with byte value ${b}`);
      return { value: b === 1, stored: { type } };
    }
    case 'string': return { value: r.string(what), stored: { type } };
    case 'array': {
      if (depth >= MAX_ARRAY_DEPTH) r.fail(`${what} nests arrays more than ${MAX_ARRAY_DEPTH} deep`);
      const itemId = r.u32(`item type of ${what}`);
      const itemType = TYPE_IDS[itemId];
      if (itemType === undefined) r.fail(`${what} has unknown array item type ${itemId}`);
      const n = r.count(`item count of ${what}`, MIN_SIZE[itemType]);
      if (n > MAX_ARRAY_ITEMS) r.fail(`${what} has ${n} items, more than the ${MAX_ARRAY_ITEMS} limit`);
      // Grown by push, not preallocated: n is only bounded by the file size.
      const items: GgufValue[] = [];
      let itemStored: GgufStoredType | undefined = itemType === 'array' ? undefined : { type: itemType };
      for (let i = 0; i < n; i++) {
        const v = readValue(r, itemId, what, depth + 1);
        items.push(v.value);
        if (itemStored === undefined) itemStored = v.stored;
      }
      return { value: items, stored: { type: 'array', itemType: itemStored } };
    }
  }
}
