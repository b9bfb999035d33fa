/**
 * GGUF reading (v2, v3) and writing (v3); little-endian files only.
 *
 * Layout: "GGUF", u32 version, u64 tensor count, u64 metadata count, metadata
 * key/value pairs, tensor infos (name, n_dims, dims ne0-first, type, offset
 * relative to the data section), padding to `general.alignment` (default 32),
 * then tensor data, each tensor starting at an aligned offset.
 *
 * The reader makes positioned reads through a small window, so opening a
 * multi-gigabyte model touches only its header; every count and length read
 * from the file is checked against the bytes actually left before anything is
 * allocated from it.
 */
import { closeSync } from 'node:fs';
import { InvalidInputError, ModelFileError } from './errors.js';
import { encodeF32, HOST_IS_LITTLE_ENDIAN, swap32InPlace } from './dtype.js';
import { dequantize, GgmlType, ggmlTypeInfo, ggmlTypeName, quantizeQ4_0, quantizeQ8_0 } from './ggml-quants.js';
import { openForReading, readFully, writeFileAtomic } from './files.js';

export { GgmlType, ggmlTypeInfo, ggmlTypeName } from './ggml-quants.js';

export type GgufScalar = number | bigint | string | boolean;
export type GgufValue = GgufScalar | GgufValue[];

export interface GgufTensorInfo {
  readonly name: string;
  /** GGUF order: ne0 (fastest varying) first. */
  readonly dims: readonly number[];
  /** numpy order: dims reversed. */
  readonly shape: readonly number[];
  readonly type: GgmlType;
  /** Absolute file offset. */
  readonly offset: number;
  readonly byteLength: number;
}

export type GgufMetaType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64' | 'f32' | 'f64' | 'bool' | 'string';

export type GgufMetaEntry =
  | { key: string; type: GgufMetaType; value: GgufScalar }
  | { key: string; type: 'array'; itemType: GgufMetaType; value: GgufScalar[] };

/** How a metadata value was stored; arrays carry their item type (nested arrays nest). */
export type GgufStoredType = { readonly type: GgufMetaType } | { readonly type: 'array'; readonly itemType: GgufStoredType | undefined };

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Value type ids in the file. */
const TYPE_IDS: readonly (GgufMetaType | 'array')[] = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];
const TYPE_ID: Readonly<Record<GgufMetaType | 'array', number>> = Object.fromEntries(TYPE_IDS.map((t, i) => [t, i])) as Record<GgufMetaType | 'array', number>;
/** Fewest bytes one value of each type can take: bounds element counts before reading them. */
const MIN_SIZE: Readonly<Record<GgufMetaType | 'array', number>> = {
  u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8, string: 8, array: 12,
};

const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_ARRAY_DEPTH = 8; // ggml writes no nested arrays at all; the limit keeps recursion bounded
const MAX_STRING_BYTES = 1 << 28;
const MAX_ARRAY_ITEMS = 1 << 28;
const WINDOW = 1 << 20;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}

/** Sequential reader over a file through a window buffer, with every read bounds-checked. */
class HeaderReader {
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

function readValue(r: HeaderReader, typeId: number, what: string, depth: number): { value: GgufValue; stored: GgufStoredType } {
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

export class GgufFile {
  readonly path: string;
  readonly version: number;
  readonly alignment: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** How each metadata value was stored in the file. */
  readonly metadataTypes: ReadonlyMap<string, GgufStoredType>;
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
  /** Absolute offset of the tensor data section. */
  readonly dataOffset: number;
  private fd: number | undefined;

  private constructor(init: {
    path: string; fd: number; version: number; alignment: number; dataOffset: number;
    metadata: Map<string, GgufValue>; metadataTypes: Map<string, GgufStoredType>; tensors: Map<string, GgufTensorInfo>;
  }) {
    this.path = init.path;
    this.fd = init.fd;
    this.version = init.version;
    this.alignment = init.alignment;
    this.dataOffset = init.dataOffset;
    this.metadata = init.metadata;
    this.metadataTypes = init.metadataTypes;
    this.tensors = init.tensors;
  }

  static open(path: string): GgufFile {
    const { fd, size } = openForReading(path);
    try {
      return GgufFile.parse(path, fd, size);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private static parse(path: string, fd: number, size: number): GgufFile {
    const r: HeaderReader = new HeaderReader(fd, size, path); // annotated so r.fail() narrows
    if (size < 4) r.fail(`file is ${size} bytes, too short to be GGUF`);
    const magic = r.u32('magic');
    if (magic !== GGUF_MAGIC) r.fail('not a GGUF file (bad magic)');
    const version = r.u32('version');
    if (version !== 2 && version !== 3) {
      if ((version & 0xffff) === 0 && version >>> 16 !== 0) r.fail('big-endian GGUF files are not supported');
      r.fail(`unsupported GGUF version ${version} (only 2 and 3 can be read)`);
    }
    const tensorCount = r.count('tensor count', 24); // smallest tensor info: 8 (name len) + 4 (n_dims) + 4 (type) + 8 (offset)
    const kvCount = r.count('metadata count', 13); // smallest pair: 8 (key len) + 4 (type) + 1 (value)

    const metadata = new Map<string, GgufValue>();
    const metadataTypes = new Map<string, GgufStoredType>();
    for (let i = 0; i < kvCount; i++) {
      const key = r.string(`metadata key #${i}`);
      if (metadata.has(key)) r.fail(`metadata key ${quote(key)} appears twice`);
      const typeId = r.u32(`type of metadata ${quote(key)}`);
      const { value, stored } = readValue(r, typeId, `metadata ${quote(key)}`, 0);
      metadata.set(key, value);
      metadataTypes.set(key, stored);
    }

    let alignment = GGUF_DEFAULT_ALIGNMENT;
    if (metadata.has('general.alignment')) {
      const a = metadata.get('general.alignment');
      if (metadataTypes.get('general.alignment')?.type !== 'u32' || typeof a !== 'number') r.fail('general.alignment must be a uint32');
      const n = a as number;
      if (n === 0 || (n & (n - 1)) !== 0) r.fail(`general.alignment ${n} is not a power of two`);
      alignment = n;
    }

    const pending: { name: string; dims: number[]; type: GgmlType; rel: bigint; byteLength: number }[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const name = r.string(`name of tensor #${i}`);
      const t = quote(name);
      if (seen.has(name)) r.fail(`tensor ${t} appears twice`);
      seen.add(name);
      const nDims = r.u32(`dimension count of tensor ${t}`);
      if (nDims > MAX_DIMS) r.fail(`tensor ${t} has ${nDims} dimensions (at most ${MAX_DIMS} allowed)`);
      const dims: number[] = [];
      let numel = 1;
      for (let d = 0; d < nDims; d++) {
        const v = r.u64(`dimensions of tensor ${t}`);
        if (v > MAX_SAFE) r.fail(`tensor ${t} dimension ${v} is too large`);
        dims.push(Number(v));
        numel *= Number(v);
        if (!Number.isSafeInteger(numel)) r.fail(`tensor ${t} has too many elements`);
      }
      const type = r.u32(`type of tensor ${t}`);
      const info = ggmlTypeInfo(type);
      if (!info) return r.fail(`tensor ${t} has unknown type ${type}`);
      const rel = r.u64(`data offset of tensor ${t}`);
      const ne0 = dims.length > 0 ? dims[0] : 1;
      if (ne0 % info.blockSize !== 0) {
        r.fail(`tensor ${t} row length ${ne0} is not a multiple of the ${info.name} block size ${info.blockSize}`);
      }
      const byteLength = (numel / info.blockSize) * info.typeSize;
      if (!Number.isSafeInteger(byteLength)) r.fail(`tensor ${t} is too large`);
      pending.push({ name, dims, type: type as GgmlType, rel, byteLength });
    }

    const dataOffset = Math.ceil(r.pos / alignment) * alignment;
    const tensors = new Map<string, GgufTensorInfo>();
    // Where the next tensor must start: llama.cpp (gguf.cpp) requires tensor data back to back in
    // header order, each padded to the alignment, so a changed type, shape or offset that makes
    // tensors overlap (or leaves a gap) is refused instead of reading another tensor's bytes.
    let expectedRel = 0n;
    for (const p of pending) {
      const t = quote(p.name);
      if (p.rel % BigInt(alignment) !== 0n) r.fail(`tensor ${t} data offset ${p.rel} is not a multiple of the alignment ${alignment}`);
      const abs = BigInt(dataOffset) + p.rel;
      if (abs > BigInt(size)) r.fail(`tensor ${t} data offset ${p.rel} is outside the file`);
      const offset = Number(abs);
      if (offset + p.byteLength > size) {
        r.fail(`tensor ${t} needs ${p.byteLength} bytes at offset ${offset} but the file has ${size} (truncated?)`);
      }
      if (p.rel !== expectedRel) {
        r.fail(`tensor ${t} data offset ${p.rel} is not where the previous tensor's data ends (${expectedRel}): tensor data must be stored back to back in header order`);
      }
      expectedRel += BigInt(Math.ceil(p.byteLength / alignment) * alignment);
      tensors.set(p.name, { name: p.name, dims: p.dims, shape: [...p.dims].reverse(), type: p.type, offset, byteLength: p.byteLength });
    }
    return new GgufFile({ path, fd, version, alignment, dataOffset, metadata, metadataTypes, tensors });
  }

  get(key: string): GgufValue | undefined {
    return this.metadata.get(key);
  }

  private wrongType(key: string, want: string): never {
    const st = this.metadataTypes.get(key);
    const have = st ? (st.type === 'array' ? 'an array' : `a ${st.type}`) : 'missing';
    throw new ModelFileError(this.path, `metadata ${quote(key)} is ${have}, expected ${want}`);
  }

  /** Any numeric value as a number; a 64-bit value beyond 2^53 is an error rather than silently rounded. */
  getNumber(key: string): number | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') throw new ModelFileError(this.path, `metadata ${quote(key)} value ${v} does not fit a JS number`);
    return this.wrongType(key, 'a number');
  }

  getBigInt(key: string): bigint | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (typeof v === 'bigint') return v;
    if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
    return this.wrongType(key, 'an integer');
  }

  getString(key: string): string | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (typeof v === 'string') return v;
    return this.wrongType(key, 'a string');
  }

  getBool(key: string): boolean | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (typeof v === 'boolean') return v;
    return this.wrongType(key, 'a bool');
  }

  getArray(key: string): GgufValue[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (Array.isArray(v)) return v;
    return this.wrongType(key, 'an array');
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  private tensor(name: string): GgufTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new ModelFileError(this.path, `no tensor named ${quote(name)}`);
    return t;
  }

  private handle(): number {
    if (this.fd === undefined) throw new ModelFileError(this.path, 'file is closed');
    return this.fd;
  }

  /** The tensor's bytes exactly as stored. */
  readRaw(name: string): Buffer {
    const t = this.tensor(name);
    const buf = Buffer.allocUnsafe(t.byteLength);
    readFully(this.handle(), buf, t.offset, this.path);
    return buf;
  }

  /**
   * The stored bytes of rows [start, start+count) (numpy order: quant blocks run along ne0, so a
   * row range is a byte range).
   */
  readRawRows(name: string, start: number, count: number): Buffer {
    const t = this.tensor(name);
    const rows = t.shape[0] ?? 1;
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new RangeError(`rows ${start}..${start + count} are outside tensor ${name} with ${rows} rows`);
    }
    const rowBytes = t.byteLength / rows;
    const buf = Buffer.allocUnsafe(count * rowBytes);
    readFully(this.handle(), buf, t.offset + start * rowBytes, this.path);
    return buf;
  }

  /** Dequantized to float32, row-major in numpy order (`shape`). */
  readF32(name: string): Float32Array {
    const t = this.tensor(name);
    const info = ggmlTypeInfo(t.type)!;
    if (!info.readable) throw new ModelFileError(this.path, `tensor ${quote(name)} has type ${info.name}, which steerer cannot dequantize`);
    const numel = t.dims.reduce((a, b) => a * b, 1);
    if (t.type === GgmlType.F32) {
      // Read straight into the result: no intermediate copy for the common case.
      const out = new Float32Array(numel);
      const bytes = new Uint8Array(out.buffer);
      readFully(this.handle(), bytes, t.offset, this.path);
      if (!HOST_IS_LITTLE_ENDIAN) swap32InPlace(bytes);
      return out;
    }
    return dequantize(t.type, this.readRaw(name), numel);
  }

  /**
   * Rows [start, start+count) of a tensor in numpy order ([rows, ..., ne0]: quant blocks run
   * along ne0, so a row range is a byte range), dequantized to float32.
   */
  readF32Rows(name: string, start: number, count: number): Float32Array {
    const t = this.tensor(name);
    const info = ggmlTypeInfo(t.type)!;
    if (!info.readable) throw new ModelFileError(this.path, `tensor ${quote(name)} has type ${info.name}, which steerer cannot dequantize`);
    const rows = t.shape[0] ?? 1;
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new RangeError(`rows ${start}..${start + count} are outside tensor ${name} with ${rows} rows`);
    }
    const rowElems = t.dims.reduce((a, b) => a * b, 1) / rows;
    const rowBytes = t.byteLength / rows;
    if (t.type === GgmlType.F32) {
      // Straight into the result, as readF32 does.
      const out = new Float32Array(count * rowElems);
      const bytes = new Uint8Array(out.buffer);
      readFully(this.handle(), bytes, t.offset + start * rowBytes, this.path);
      if (!HOST_IS_LITTLE_ENDIAN) swap32InPlace(bytes);
      return out;
    }
    const bytes = Buffer.allocUnsafe(count * rowBytes);
    readFully(this.handle(), bytes, t.offset + start * rowBytes, this.path);
    return dequantize(t.type, bytes, count * rowElems);
  }

  close(): void {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      closeSync(fd);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

export type GgufTensorToWrite = {
  readonly name: string;
  /** numpy order. */
  readonly shape: readonly number[];
  readonly type: GgmlType;
} & (
  | { readonly data: Float32Array }
  /**
   * The tensor's bytes already in `type`, made when the tensor is written: a file far larger than
   * memory can be written one tensor at a time.
   */
  | { readonly bytes: () => Uint8Array }
);

/** Types writeGguf can encode from float32. */
export const GGUF_WRITABLE_TYPES: readonly GgmlType[] = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0];

/** Growable little-endian byte buffer for the header. */
class ByteSink {
  private buf = Buffer.allocUnsafe(1 << 12);
  len = 0;

  /** Grows the buffer (replacing this.buf) and returns the offset to write at: call it before reading this.buf. */
  private reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  u8(v: number): void { const at = this.reserve(1); this.buf.writeUInt8(v, at); }
  i8(v: number): void { const at = this.reserve(1); this.buf.writeInt8(v, at); }
  u16(v: number): void { const at = this.reserve(2); this.buf.writeUInt16LE(v, at); }
  i16(v: number): void { const at = this.reserve(2); this.buf.writeInt16LE(v, at); }
  u32(v: number): void { const at = this.reserve(4); this.buf.writeUInt32LE(v, at); }
  i32(v: number): void { const at = this.reserve(4); this.buf.writeInt32LE(v, at); }
  u64(v: bigint): void { const at = this.reserve(8); this.buf.writeBigUInt64LE(v, at); }
  i64(v: bigint): void { const at = this.reserve(8); this.buf.writeBigInt64LE(v, at); }
  f32(v: number): void { const at = this.reserve(4); this.buf.writeFloatLE(v, at); }
  f64(v: number): void { const at = this.reserve(8); this.buf.writeDoubleLE(v, at); }
  bytes(b: Uint8Array): void { const at = this.reserve(b.length); this.buf.set(b, at); }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(BigInt(b.length));
    this.bytes(b);
  }
  zeros(n: number): void { const at = this.reserve(n); this.buf.fill(0, at, this.len); }
  result(): Buffer { return this.buf.subarray(0, this.len); }
}

const INT_RANGE: Readonly<Partial<Record<GgufMetaType, readonly [bigint, bigint]>>> = {
  u8: [0n, 255n], i8: [-128n, 127n], u16: [0n, 65535n], i16: [-32768n, 32767n],
  u32: [0n, 0xffffffffn], i32: [-0x80000000n, 0x7fffffffn],
  u64: [0n, 0xffffffffffffffffn], i64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

function writeScalar(sink: ByteSink, type: GgufMetaType, v: GgufScalar, key: string): void {
  const bad = (): never => { throw new InvalidInputError(`GGUF metadata ${quote(key)}: ${String(v)} is not a valid ${type}`); };
  const range = INT_RANGE[type];
  if (range) {
    if (!(typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v)))) bad();
    const b = BigInt(v as number | bigint);
    if (b < range[0] || b > range[1]) bad();
    switch (type) {
      case 'u8': sink.u8(Number(b)); return;
      case 'i8': sink.i8(Number(b)); return;
      case 'u16': sink.u16(Number(b)); return;
      case 'i16': sink.i16(Number(b)); return;
      case 'u32': sink.u32(Number(b)); return;
      case 'i32': sink.i32(Number(b)); return;
      case 'u64': sink.u64(b); return;
      case 'i64': sink.i64(b); return;
    }
  }
  switch (type) {
    case 'f32': if (typeof v !== 'number') bad(); sink.f32(v as number); return;
    case 'f64': if (typeof v !== 'number') bad(); sink.f64(v as number); return;
    case 'bool': if (typeof v !== 'boolean') bad(); sink.u8(v ? 1 : 0); return;
    case 'string': if (typeof v !== 'string') bad(); sink.string(v as string); return;
    default: throw new InvalidInputError(`GGUF metadata ${quote(key)}: unknown type ${String(type)}`);
  }
}

function encodeTensor(t: GgufTensorToWrite): Uint8Array {
  if ('bytes' in t) return t.bytes();
  switch (t.type) {
    case GgmlType.F32: return encodeF32(t.data, 'f32');
    case GgmlType.F16: return encodeF32(t.data, 'f16');
    case GgmlType.BF16: return encodeF32(t.data, 'bf16');
    case GgmlType.Q8_0: return quantizeQ8_0(t.data);
    case GgmlType.Q4_0: return quantizeQ4_0(t.data);
    default: throw new InvalidInputError(`cannot write tensor ${quote(t.name)} as ${ggmlTypeName(t.type)}`);
  }
}

/**
 * Write a GGUF v3 file. Alignment comes from `opts.alignment`, else a `general.alignment`
 * u32 entry in `metadata`, else 32; when given through opts it is also recorded in the
 * metadata so readers honour it. Atomic: temp file + rename, removed on any failure.
 */
export function writeGguf(path: string, metadata: readonly GgufMetaEntry[], tensors: readonly GgufTensorToWrite[], opts?: { alignment?: number }): void {
  const entries = [...metadata];
  const alignEntry = entries.find((e) => e.key === 'general.alignment');
  let alignment = opts?.alignment;
  if (alignEntry) {
    if (alignEntry.type !== 'u32' || typeof alignEntry.value !== 'number') throw new InvalidInputError('general.alignment must be a u32');
    if (alignment !== undefined && alignment !== alignEntry.value) {
      throw new InvalidInputError(`alignment ${alignment} conflicts with general.alignment ${alignEntry.value}`);
    }
    alignment = alignEntry.value;
  } else if (alignment !== undefined) {
    entries.push({ key: 'general.alignment', type: 'u32', value: alignment });
  }
  const align = alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(align) || align < 1 || align > 0x80000000 || (align & (align - 1)) !== 0) {
    throw new InvalidInputError(`GGUF alignment ${align} is not a power of two`);
  }

  const sink = new ByteSink();
  sink.u32(GGUF_MAGIC);
  sink.u32(3);
  sink.u64(BigInt(tensors.length));
  sink.u64(BigInt(entries.length));
  const keys = new Set<string>();
  for (const e of entries) {
    if (typeof e.key !== 'string') throw new InvalidInputError('GGUF metadata key must be a string');
    if (keys.has(e.key)) throw new InvalidInputError(`GGUF metadata key ${quote(e.key)} given twice`);
    keys.add(e.key);
    sink.string(e.key);
    if (e.type === 'array') {
      if (!Array.isArray(e.value) || !Object.hasOwn(TYPE_ID, e.itemType) || e.itemType === ('array' as string)) {
        throw new InvalidInputError(`GGUF metadata ${quote(e.key)}: arrays need an array value and a scalar item type`);
      }
      sink.u32(TYPE_ID.array);
      sink.u32(TYPE_ID[e.itemType]);
      sink.u64(BigInt(e.value.length));
      for (const item of e.value) writeScalar(sink, e.itemType, item, e.key);
    } else {
      if (!Object.hasOwn(TYPE_ID, e.type)) throw new InvalidInputError(`GGUF metadata ${quote(e.key)}: unknown type ${String(e.type)}`);
      sink.u32(TYPE_ID[e.type]);
      writeScalar(sink, e.type, e.value, e.key);
    }
  }

  const names = new Set<string>();
  const plan: { t: GgufTensorToWrite; numel: number; byteLength: number }[] = [];
  let rel = 0;
  for (const t of tensors) {
    const q = quote(t.name);
    if (typeof t.name !== 'string') throw new InvalidInputError('tensor name must be a string');
    if (names.has(t.name)) throw new InvalidInputError(`tensor ${q} given twice`);
    names.add(t.name);
    if (t.shape.length > MAX_DIMS) throw new InvalidInputError(`tensor ${q} has ${t.shape.length} dimensions (GGUF allows ${MAX_DIMS})`);
    if (!('bytes' in t) && !GGUF_WRITABLE_TYPES.includes(t.type)) throw new InvalidInputError(`cannot write tensor ${q} as ${ggmlTypeName(t.type)}`);
    if ('bytes' in t && !ggmlTypeInfo(t.type)) throw new InvalidInputError(`tensor ${q} has unknown type ${t.type}`);
    let numel = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new InvalidInputError(`tensor ${q} has an invalid dimension ${d}`);
      numel *= d;
    }
    const info = ggmlTypeInfo(t.type)!;
    const ne0 = t.shape.length > 0 ? t.shape[t.shape.length - 1] : 1;
    if (ne0 % info.blockSize !== 0) {
      throw new InvalidInputError(`tensor ${q}: last dimension ${ne0} is not a multiple of the ${info.name} block size ${info.blockSize}`);
    }
    const byteLength = (numel / info.blockSize) * info.typeSize;
    const dims = [...t.shape].reverse();
    sink.string(t.name);
    sink.u32(dims.length);
    for (const d of dims) sink.u64(BigInt(d));
    sink.u32(t.type);
    sink.u64(BigInt(rel));
    plan.push({ t, numel, byteLength });
    rel += Math.ceil(byteLength / align) * align;
  }
  sink.zeros((align - (sink.len % align)) % align);
  const header = sink.result();

  writeFileAtomic(path, (write) => {
    write(header);
    for (const { t, numel, byteLength } of plan) {
      // Checked while writing so a bad tensor goes through the same cleanup as an I/O failure.
      if ('data' in t && t.data.length !== numel) {
        throw new InvalidInputError(`tensor ${quote(t.name)} has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${numel}`);
      }
      const bytes = encodeTensor(t);
      if (bytes.byteLength !== byteLength) throw new Error(`internal: ${t.name} encoded to ${bytes.byteLength} bytes, expected ${byteLength}`);
      write(bytes);
      const pad = (align - (byteLength % align)) % align;
      if (pad > 0) write(new Uint8Array(pad));
    }
  });
}
