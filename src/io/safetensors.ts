/**
 * safetensors reading (lazy, positioned reads) and atomic writing.
 *
 * Layout: u64 LE header length N, N bytes of UTF-8 JSON, then the data section.
 * Each JSON entry is {dtype, shape, data_offsets: [begin, end]} with offsets
 * relative to the data section; "__metadata__" maps strings to strings.
 */
import { closeSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import { InvalidInputError, ModelFileError } from './errors.js';
import { openForReading, readFully, writeFileAtomic } from './files.js';
import { decodeToF32, encodeF32, encodeI32, HOST_IS_LITTLE_ENDIAN, swap32InPlace, type ElementKind } from './dtype.js';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Absolute offset in `file`. */
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly file: string;
}

const DTYPES: Readonly<Record<SafetensorsDType, { size: number; kind: ElementKind }>> = {
  F64: { size: 8, kind: 'f64' }, F32: { size: 4, kind: 'f32' }, F16: { size: 2, kind: 'f16' }, BF16: { size: 2, kind: 'bf16' },
  I64: { size: 8, kind: 'i64' }, I32: { size: 4, kind: 'i32' }, I16: { size: 2, kind: 'i16' }, I8: { size: 1, kind: 'i8' },
  U8: { size: 1, kind: 'u8' }, BOOL: { size: 1, kind: 'bool' },
};
/** Valid in the spec but not readable here; named so the error says "unsupported" rather than "unknown". */
const KNOWN_UNSUPPORTED = new Set(['U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

/** Same limit as the reference Rust implementation: a bigger header is a corrupt or hostile file. */
export const MAX_HEADER_BYTES = 100_000_000;

// ---------------------------------------------------------------------------------------------
// Reading

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name);
}

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

// ---------------------------------------------------------------------------------------------
// A model directory

const SHARD_RE = /^(.*)-(\d+)-of-(\d+)\.safetensors$/;

export class SafetensorsCollection {
  readonly dir: string;
  readonly files: readonly SafetensorsFile[];
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly byPath: ReadonlyMap<string, SafetensorsFile>;

  private constructor(dir: string, files: SafetensorsFile[], entries: Map<string, SafetensorsEntry>, metadata: Record<string, string>) {
    this.dir = dir;
    this.files = files;
    this.entries = entries;
    this.metadata = Object.freeze(metadata);
    this.byPath = new Map(files.map((f) => [f.path, f]));
  }

  /**
   * Open the weights of a model directory. Precedence: model.safetensors.index.json (sharded),
   * then model.safetensors, then a complete set of NAME-0000i-of-0000N.safetensors shards,
   * then every *.safetensors file in the directory (tensor names must not repeat).
   */
  static openDir(dir: string): SafetensorsCollection {
    let names: string[];
    try {
      if (!statSync(dir).isDirectory()) throw new ModelFileError(dir, 'not a directory');
      names = readdirSync(dir).filter((n) => n.endsWith('.safetensors')).sort();
    } catch (err) {
      if (err instanceof ModelFileError) throw err;
      throw new ModelFileError(dir, `cannot read directory: ${(err as Error).message}`, { cause: err });
    }
    const indexPath = join(dir, 'model.safetensors.index.json');
    if (existsSync(indexPath)) return SafetensorsCollection.openIndexed(dir, indexPath);
    if (names.includes('model.safetensors')) return SafetensorsCollection.openFiles(dir, ['model.safetensors']);
    if (names.length === 0) throw new ModelFileError(dir, 'no .safetensors files found');
    // Without an index, a shard set must be complete: a missing shard would silently drop tensors.
    const groups = new Map<string, { total: number; seen: Set<number> }>();
    for (const n of names) {
      const m = SHARD_RE.exec(n);
      if (!m) continue;
      const key = `${m[1]}-of-${m[3]}`;
      const g = groups.get(key) ?? { total: Number(m[3]), seen: new Set<number>() };
      g.seen.add(Number(m[2]));
      groups.set(key, g);
    }
    for (const [key, g] of groups) {
      for (let i = 1; i <= g.total; i++) {
        if (!g.seen.has(i)) throw new ModelFileError(dir, `shard ${i} of ${g.total} (${key.replace(/-of-\d+$/, '')}) is missing`);
      }
    }
    return SafetensorsCollection.openFiles(dir, names);
  }

  private static openIndexed(dir: string, indexPath: string): SafetensorsCollection {
    let index: unknown;
    try {
      index = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (err) {
      throw new ModelFileError(indexPath, `cannot read index: ${(err as Error).message}`, { cause: err });
    }
    if (!isPlainObject(index) || !isPlainObject(index.weight_map)) throw new ModelFileError(indexPath, 'index has no "weight_map" object');
    const weightMap = index.weight_map as Record<string, unknown>;
    const shardNames: string[] = [];
    const root = resolve(dir);
    for (const [tensor, shard] of Object.entries(weightMap)) {
      if (typeof shard !== 'string' || shard === '') throw new ModelFileError(indexPath, `weight_map entry for ${describe(tensor)} is not a file name`);
      // The index must not point outside the model directory.
      const full = resolve(root, shard);
      if (!full.startsWith(root + sep)) throw new ModelFileError(indexPath, `shard ${describe(shard)} is outside the model directory`);
      if (!shardNames.includes(shard)) shardNames.push(shard);
    }
    if (shardNames.length === 0) throw new ModelFileError(indexPath, 'weight_map is empty');
    for (const s of shardNames) {
      if (!existsSync(join(dir, s))) throw new ModelFileError(indexPath, `shard ${s} named in weight_map is missing`);
    }
    const coll = SafetensorsCollection.openFiles(dir, shardNames);
    try {
      for (const [tensor, shard] of Object.entries(weightMap)) {
        const e = coll.entries.get(tensor);
        const shardPath = join(dir, shard as string);
        if (!e) throw new ModelFileError(indexPath, `tensor ${describe(tensor)} is mapped to ${shard as string} but is not in it`);
        if (e.file !== shardPath) throw new ModelFileError(indexPath, `tensor ${describe(tensor)} is mapped to ${shard as string} but found in ${basename(e.file)}`);
      }
    } catch (err) {
      coll.close();
      throw err;
    }
    return coll;
  }

  private static openFiles(dir: string, names: readonly string[]): SafetensorsCollection {
    const files: SafetensorsFile[] = [];
    try {
      const entries = new Map<string, SafetensorsEntry>();
      const metadata: Record<string, string> = {};
      for (const n of names) {
        const f = SafetensorsFile.open(join(dir, n));
        files.push(f);
        for (const [name, e] of f.entries) {
          const prev = entries.get(name);
          if (prev) throw new ModelFileError(dir, `tensor ${describe(name)} appears in both ${basename(prev.file)} and ${n}`);
          entries.set(name, e);
        }
        Object.assign(metadata, f.metadata);
      }
      return new SafetensorsCollection(dir, files, entries, metadata);
    } catch (err) {
      for (const f of files) f.close();
      throw err;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  private fileFor(name: string): SafetensorsFile {
    const e = this.entries.get(name);
    if (!e) throw new ModelFileError(this.dir, `no tensor named ${describe(name)}`);
    return this.byPath.get(e.file)!;
  }

  readF32(name: string): Float32Array {
    return this.fileFor(name).readF32(name);
  }

  readRaw(name: string): Buffer {
    return this.fileFor(name).readRaw(name);
  }

  readF32Rows(name: string, start: number, count: number): Float32Array {
    return this.fileFor(name).readF32Rows(name, start, count);
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Float tensors are stored as F32 (default), F16 or BF16; int32 tensors (token ids, indices) as I32. */
export type TensorToWrite =
  | { readonly shape: readonly number[]; readonly data: Float32Array; readonly dtype?: 'F32' | 'F16' | 'BF16' }
  | { readonly shape: readonly number[]; readonly data: Int32Array; readonly dtype: 'I32' };

const FLOAT_KIND = { F32: 'f32', F16: 'f16', BF16: 'bf16' } as const;

/** Little-endian bytes of a tensor's values in its stored dtype. */
function encodeTensor(t: TensorToWrite): Uint8Array {
  if (t.dtype === 'I32') return encodeI32(t.data);
  return encodeF32(t.data, FLOAT_KIND[t.dtype ?? 'F32']);
}

/**
 * Write tensors (in iteration order) and string metadata. The header is padded with
 * spaces to a multiple of 8 so the data section is 8-byte aligned, as the spec asks.
 * Atomic: a failure (including a data length that does not match its shape) leaves nothing behind.
 */
export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite> | ReadonlyMap<string, TensorToWrite>,
  metadata?: Record<string, string>,
): void {
  const list: [string, TensorToWrite][] = tensors instanceof Map ? [...(tensors as ReadonlyMap<string, TensorToWrite>)] : Object.entries(tensors as Record<string, TensorToWrite>);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new InvalidInputError(`safetensors metadata value for ${describe(k)} must be a string`);
    }
    header.__metadata__ = { ...metadata };
  }
  const plan: { name: string; t: TensorToWrite; numel: number }[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new InvalidInputError('"__metadata__" cannot be used as a tensor name');
    const dtype = t.dtype ?? 'F32';
    if (dtype !== 'I32' && !Object.hasOwn(FLOAT_KIND, dtype)) throw new InvalidInputError(`cannot write tensor ${describe(name)} as ${String(dtype)}; use F32, F16, BF16 or I32`);
    // The type system pairs dtype with the array kind; untyped callers get a clear error instead of garbage bytes.
    const wantInt = dtype === 'I32';
    if (wantInt !== (t.data instanceof Int32Array) || (!wantInt && !(t.data instanceof Float32Array))) {
      throw new InvalidInputError(`tensor ${describe(name)}: ${dtype} needs ${wantInt ? 'an Int32Array' : 'a Float32Array'}`);
    }
    let numel = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new InvalidInputError(`tensor ${describe(name)} has an invalid dimension ${d}`);
      numel *= d;
    }
    const bytes = numel * DTYPES[dtype].size;
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
    plan.push({ name, t, numel });
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const head = Buffer.alloc(8 + padded, 0x20);
  head.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(head, 8);
  writeFileAtomic(path, (write) => {
    write(head);
    for (const { name, t, numel } of plan) {
      // Checked here rather than up front so a bad tensor exercises the same cleanup as an I/O failure.
      if (t.data.length !== numel) {
        throw new InvalidInputError(`tensor ${describe(name)} has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${numel}`);
      }
      write(encodeTensor(t));
    }
  });
}
