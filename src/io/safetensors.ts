/**
 * safetensors reading of one file (lazy, positioned reads), and the definitions that the
 * directory reader (safetensors-collection.ts) and the writer (safetensors-write.ts) share with
 * it, so all three agree on dtypes and on how names appear in errors.
 *
 * Layout: u64 LE header length N, N bytes of UTF-8 JSON, then the data section.
 * Each JSON entry is {dtype, shape, data_offsets: [begin, end]} with offsets
 * relative to the data section; "__metadata__" maps strings to strings.
 */
import { closeSync } from 'node:fs';
import { ModelFileError } from './errors.js';
import { openForReading, readFully } from './files.js';
import { decodeToF32, HOST_IS_LITTLE_ENDIAN, swap32InPlace, type ElementKind } from './dtype.js';

type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Absolute offset in `file`. */
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly file: string;
}

/** Byte size and element kind of each dtype this module reads (and the writer sizes tensors by). */
export const DTYPES: Readonly<Record<SafetensorsDType, { size: number; kind: ElementKind }>> = {
  F64: { size: 8, kind: 'f64' }, F32: { size: 4, kind: 'f32' }, F16: { size: 2, kind: 'f16' }, BF16: { size: 2, kind: 'bf16' },
  I64: { size: 8, kind: 'i64' }, I32: { size: 4, kind: 'i32' }, I16: { size: 2, kind: 'i16' }, I8: { size: 1, kind: 'i8' },
  U8: { size: 1, kind: 'u8' }, BOOL: { size: 1, kind: 'bool' },
};
/** Valid in the spec but not readable here; named so the error says "unsupported" rather than "unknown". */
const KNOWN_UNSUPPORTED = new Set(['U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

/** Same limit as the reference Rust implementation: a bigger header is a corrupt or hostile file. */
const MAX_HEADER_BYTES = 100_000_000;

/** A JSON object (not an array or null), as the header and its entries must be. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A tensor or key name for an error message, quoted and cut short. */
export function describe(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name);
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Parse and validate a header; `dataStart` is the absolute offset of the data section. */
function parseHeader(path: string, json: unknown, dataStart: number, dataSize: number): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  const fail = (problem: string): never => { throw new ModelFileError(path, problem); };
  if (!isPlainObject(json)) fail('safetensors header is not a JSON object');
  const header = json as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  const spans: { begin: number; end: number; name: string }[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(raw)) fail('"__metadata__" is not an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"__metadata__" value for ${describe(k)} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const t = describe(name);
    if (!isPlainObject(raw)) fail(`tensor ${t} entry is not an object`);
    const e = raw as Record<string, unknown>;
    if (!('dtype' in e)) fail(`tensor ${t} has no dtype`);
    if (!('shape' in e)) fail(`tensor ${t} has no shape`);
    if (!('data_offsets' in e)) fail(`tensor ${t} has no data_offsets`);
    const dtypeRaw = e.dtype;
    if (typeof dtypeRaw !== 'string') fail(`tensor ${t} dtype is not a string`);
    const dtypeStr = dtypeRaw as string;
    if (!Object.hasOwn(DTYPES, dtypeStr)) {
      fail(KNOWN_UNSUPPORTED.has(dtypeStr) ? `tensor ${t} has unsupported dtype ${dtypeStr}` : `tensor ${t} has unknown dtype ${describe(dtypeStr)}`);
    }
    const dtype = dtypeStr as SafetensorsDType;
    const shapeRaw = e.shape;
    if (!Array.isArray(shapeRaw)) fail(`tensor ${t} shape is not an array`);
    const shape: number[] = [];
    let numel = 1;
    for (const d of shapeRaw as unknown[]) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) fail(`tensor ${t} has an invalid dimension ${JSON.stringify(d)} (must be a non-negative integer)`);
      shape.push(d as number);
      numel *= d as number;
      if (!Number.isSafeInteger(numel)) fail(`tensor ${t} shape [${(shapeRaw as unknown[]).join(', ')}] is too large`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor ${t} data_offsets must be two non-negative integers`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) fail(`tensor ${t} data_offsets [${begin}, ${end}] are out of order`);
    const expected = numel * DTYPES[dtype].size;
    if (end - begin !== expected) fail(`tensor ${t} occupies ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${expected}`);
    spans.push({ begin, end, name });
    entries.set(name, { name, dtype, shape, byteOffset: dataStart + begin, byteLength: end - begin, file: path });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let prev: { end: number; name: string } | undefined;
  let maxEnd = 0;
  for (const s of spans) {
    // Zero-size tensors may sit anywhere; only real bytes can overlap.
    if (s.end > s.begin) {
      if (prev && s.begin < prev.end) fail(`tensors ${describe(prev.name)} and ${describe(s.name)} overlap in the data section`);
      prev = s;
    }
    maxEnd = Math.max(maxEnd, s.end);
  }
  if (maxEnd > dataSize) {
    fail(`data section is ${dataSize} bytes but tensors need ${maxEnd} (file truncated?)`);
  }
  // As the reference implementation requires, the tensors cover the data section exactly: a gap or
  // trailing bytes mean the header and the data disagree (a shifted header length, a changed
  // shape), and reading on would give another tensor's bytes as values.
  let covered = 0;
  for (const s of spans) {
    if (s.end === s.begin) continue;
    if (s.begin !== covered) fail(`tensor ${describe(s.name)} starts at byte ${s.begin} of the data section, but the tensors before it end at ${covered}: tensors must be stored back to back`);
    covered = s.end;
  }
  if (covered !== dataSize) fail(`data section is ${dataSize} bytes but the tensors cover ${covered}: ${dataSize - covered} bytes of trailing data (header length wrong?)`);
  return { entries, metadata };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class SafetensorsFile {
  readonly path: string;
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  private fd: number | undefined;

  private constructor(path: string, fd: number, entries: Map<string, SafetensorsEntry>, metadata: Record<string, string>, dataOffset: number) {
    this.path = path;
    this.fd = fd;
    this.entries = entries;
    this.metadata = Object.freeze(metadata);
    this.dataOffset = dataOffset;
  }

  static open(path: string): SafetensorsFile {
    const { fd, size } = openForReading(path);
    try {
      const fail = (problem: string): never => { throw new ModelFileError(path, problem); };
      if (size < 8) fail(`file is ${size} bytes, too short for a safetensors header`);
      const lenBuf = Buffer.alloc(8);
      readFully(fd, lenBuf, 0, path);
      const n64 = lenBuf.readBigUInt64LE(0);
      if (n64 > BigInt(size - 8)) fail(`header length ${n64} is larger than the file (${size} bytes)`);
      const n = Number(n64);
      if (n > MAX_HEADER_BYTES) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
      const headerBytes = Buffer.alloc(n);
      readFully(fd, headerBytes, 8, path);
      let text: string;
      try {
        text = utf8.decode(headerBytes);
      } catch {
        return fail('header is not valid UTF-8');
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        // JSON.parse quotes the offending text; keep the problem to one short line.
        const why = (err as Error).message.replace(/\s+/g, ' ').slice(0, 160);
        return fail(`header is not valid JSON (${why})`);
      }
      const dataStart = 8 + n;
      const { entries, metadata } = parseHeader(path, json, dataStart, size - dataStart);
      return new SafetensorsFile(path, fd, entries, metadata, dataStart);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  private entry(name: string): SafetensorsEntry {
    const e = this.entries.get(name);
    if (!e) throw new ModelFileError(this.path, `no tensor named ${describe(name)}`);
    return e;
  }

  private handle(): number {
    if (this.fd === undefined) throw new ModelFileError(this.path, 'file is closed');
    return this.fd;
  }

  readRaw(name: string): Buffer {
    const e = this.entry(name);
    const buf = Buffer.allocUnsafe(e.byteLength);
    readFully(this.handle(), buf, e.byteOffset, this.path);
    return buf;
  }

  /** The tensor as float32, row-major; integer and bool tensors are converted by value. */
  readF32(name: string): Float32Array {
    const e = this.entry(name);
    const fd = this.handle();
    const info = DTYPES[e.dtype];
    const count = e.byteLength / info.size;
    if (e.dtype === 'F32') {
      // Read straight into the result: no intermediate copy for the common case.
      const out = new Float32Array(count);
      const bytes = new Uint8Array(out.buffer);
      readFully(fd, bytes, e.byteOffset, this.path);
      if (!HOST_IS_LITTLE_ENDIAN) swap32InPlace(bytes);
      return out;
    }
    return decodeToF32(this.readRaw(name), info.kind, count);
  }

  /** An I32 tensor as stored (no conversion: other dtypes are refused). */
  readI32(name: string): Int32Array {
    const e = this.entry(name);
    if (e.dtype !== 'I32') throw new ModelFileError(this.path, `tensor ${describe(name)} is ${e.dtype}, expected I32`);
    const out = new Int32Array(e.byteLength / 4);
    const bytes = new Uint8Array(out.buffer);
    readFully(this.handle(), bytes, e.byteOffset, this.path);
    if (!HOST_IS_LITTLE_ENDIAN) swap32InPlace(bytes);
    return out;
  }

  /** Rows [start, start+count) of a tensor read as [rows, rest] (first dimension = rows), as float32. */
  readF32Rows(name: string, start: number, count: number): Float32Array {
    const e = this.entry(name);
    const rows = e.shape[0] ?? 1;
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new RangeError(`rows ${start}..${start + count} are outside tensor ${name} with ${rows} rows`);
    }
    const info = DTYPES[e.dtype];
    const rowBytes = e.byteLength / rows;
    const bytes = Buffer.alloc(count * rowBytes);
    readFully(this.handle(), bytes, e.byteOffset + start * rowBytes, this.path);
    return decodeToF32(bytes, info.kind, bytes.byteLength / info.size);
  }

  close(): void {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      closeSync(fd);
    }
  }
}
