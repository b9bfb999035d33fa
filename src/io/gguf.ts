/**
 * GGUF reading (v2, v3); little-endian files only. The format itself is described in
 * gguf-format.ts and writing is in gguf-write.ts.
 *
 * The reader makes positioned reads through a small window, so opening a
 * multi-gigabyte model touches only its header; every count and length read
 * from the file is checked against the bytes actually left before anything is
 * allocated from it.
 */
import { closeSync } from 'node:fs';
import { ModelFileError } from './errors.js';
import { HOST_IS_LITTLE_ENDIAN, swap32InPlace } from './dtype.js';
import { dequantize, GgmlType, ggmlTypeInfo } from './ggml-quants.js';
import { openForReading, readFully } from './files.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS, quote, type GgufStoredType, type GgufValue } from './gguf-format.js';
import { HeaderReader, MAX_SAFE, readValue } from './gguf-header-reader.js';

export { GgmlType, ggmlTypeName } from './ggml-quants.js';

interface GgufTensorInfo {
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
