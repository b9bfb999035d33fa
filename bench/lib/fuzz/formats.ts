/**
 * Byte-level readers and writers for the formats the loader fuzzer mutates. Independent of
 * Steerer's own readers on purpose: they must be able to write what Steerer would refuse
 * (wrong types, impossible counts, values of any width), and must not share its bugs.
 */

// ---------------------------------------------------------------------------------------------
// safetensors: u64 LE header length, JSON header, data

export interface SafetensorsDoc {
  header: Record<string, unknown>;
  data: Buffer;
}

export function parseSafetensors(bytes: Buffer): SafetensorsDoc {
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.toString('utf8', 8, 8 + n)) as Record<string, unknown>;
  return { header, data: bytes.subarray(8 + n) };
}

/** `headerText` overrides the JSON (for text-level corruption); the length field is always its byte length unless `lengthOverride`. */
export function writeSafetensorsBytes(doc: SafetensorsDoc, opts: { headerText?: string; lengthOverride?: bigint } = {}): Buffer {
  const json = Buffer.from(opts.headerText ?? JSON.stringify(doc.header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(opts.lengthOverride ?? BigInt(json.length));
  return Buffer.concat([len, json, doc.data]);
}

/** A tensor's raw bytes, for building files from scratch. */
export function buildSafetensors(tensors: readonly { name: string; dtype: string; shape: number[]; bytes: Buffer }[], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    off += t.bytes.length;
  }
  return writeSafetensorsBytes({ header, data: Buffer.concat(tensors.map((t) => t.bytes)) });
}

export function f32Bytes(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

// ---------------------------------------------------------------------------------------------
// GGUF: value types by id, as in ggml's gguf.h

export const GGUF_TYPE = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12,
} as const;
export type GgufTypeName = keyof typeof GGUF_TYPE;
const NAME_OF: Record<number, GgufTypeName> = Object.fromEntries(Object.entries(GGUF_TYPE).map(([k, v]) => [v, k])) as Record<number, GgufTypeName>;

export type GgufVal = number | bigint | boolean | string | GgufArray;
export interface GgufArray {
  itemType: number;
  items: GgufVal[];
}

export interface GgufKv {
  key: string;
  type: number;
  value: GgufVal;
}

export interface GgufTensor {
  name: string;
  /** ne0 first, as stored. */
  dims: bigint[];
  type: number;
  offset: bigint;
}

export interface GgufDoc {
  version: number;
  kvs: GgufKv[];
  tensors: GgufTensor[];
  alignment: number;
  /** Everything from the (aligned) start of the data section. */
  data: Buffer;
  /** Written instead of the real counts when set. */
  tensorCountOverride?: bigint;
  kvCountOverride?: bigint;
}

class Reader {
  pos = 0;
  constructor(private readonly b: Buffer) {}
  u8(): number { return this.b.readUInt8(this.pos++); }
  u32(): number { const v = this.b.readUInt32LE(this.pos); this.pos += 4; return v; }
  u64(): bigint { const v = this.b.readBigUInt64LE(this.pos); this.pos += 8; return v; }
  str(): string { const n = Number(this.u64()); const s = this.b.toString('utf8', this.pos, this.pos + n); this.pos += n; return s; }
  value(type: number): GgufVal {
    const b = this.b;
    const at = this.pos;
    switch (NAME_OF[type]) {
      case 'u8': this.pos += 1; return b.readUInt8(at);
      case 'i8': this.pos += 1; return b.readInt8(at);
      case 'u16': this.pos += 2; return b.readUInt16LE(at);
      case 'i16': this.pos += 2; return b.readInt16LE(at);
      case 'u32': this.pos += 4; return b.readUInt32LE(at);
      case 'i32': this.pos += 4; return b.readInt32LE(at);
      case 'f32': this.pos += 4; return b.readFloatLE(at);
      case 'bool': this.pos += 1; return b.readUInt8(at) !== 0;
      case 'string': return this.str();
      case 'u64': this.pos += 8; return b.readBigUInt64LE(at);
      case 'i64': this.pos += 8; return b.readBigInt64LE(at);
      case 'f64': this.pos += 8; return b.readDoubleLE(at);
      case 'array': {
        const itemType = this.u32();
        const n = Number(this.u64());
        const items: GgufVal[] = [];
        for (let i = 0; i < n; i++) items.push(this.value(itemType));
        return { itemType, items };
      }
      default: throw new Error(`seed GGUF has value type ${type}`);
    }
  }
}

/** Parse a well-formed GGUF (the seeds); mutated files are only ever written, never parsed here. */
export function parseGguf(bytes: Buffer): GgufDoc {
  const r = new Reader(bytes);
  if (r.u32() !== 0x46554747) throw new Error('seed is not GGUF');
  const version = r.u32();
  const nt = Number(r.u64());
  const nkv = Number(r.u64());
  const kvs: GgufKv[] = [];
  for (let i = 0; i < nkv; i++) {
    const key = r.str();
    const type = r.u32();
    kvs.push({ key, type, value: r.value(type) });
  }
  const tensors: GgufTensor[] = [];
  for (let i = 0; i < nt; i++) {
    const name = r.str();
    const nd = r.u32();
    const dims: bigint[] = [];
    for (let d = 0; d < nd; d++) dims.push(r.u64());
    tensors.push({ name, dims, type: r.u32(), offset: r.u64() });
  }
  const alignKv = kvs.find((k) => k.key === 'general.alignment');
  const alignment = alignKv ? Number(alignKv.value) : 32;
  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  return { version, kvs, tensors, alignment, data: bytes.subarray(dataStart) };
}

/** Little-endian writer that wraps any number or bigint into the width asked for. */
class Writer {
  private parts: Buffer[] = [];
  length = 0;
  /** Byte positions of every u64 length/count field written (string lengths, array counts, header counts). */
  readonly lengthFields: number[] = [];
  raw(b: Buffer): void { this.parts.push(b); this.length += b.length; }
  private fixed(n: number, fill: (b: Buffer) => void): void { const b = Buffer.alloc(n); fill(b); this.raw(b); }
  u32(v: number | bigint): void { this.fixed(4, (b) => b.writeUInt32LE(Number(BigInt.asUintN(32, BigInt(v))))); }
  u64(v: number | bigint, isLength = false): void {
    if (isLength) this.lengthFields.push(this.length);
    this.fixed(8, (b) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v))));
  }
  str(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length, true); this.raw(b); }
  value(type: number, v: GgufVal): void {
    const int = (x: GgufVal): bigint => {
      if (typeof x === 'bigint') return x;
      if (typeof x === 'number') return Number.isFinite(x) ? BigInt(Math.trunc(x)) : 0n;
      if (typeof x === 'boolean') return x ? 1n : 0n;
      return BigInt(typeof x === 'string' ? x.length : 0);
    };
    const real = (x: GgufVal): number => (typeof x === 'number' ? x : typeof x === 'bigint' ? Number(x) : typeof x === 'boolean' ? Number(x) : Number.NaN);
    switch (NAME_OF[type]) {
      case 'u8': case 'bool': this.fixed(1, (b) => b.writeUInt8(Number(BigInt.asUintN(8, int(v))))); return;
      case 'i8': this.fixed(1, (b) => b.writeInt8(Number(BigInt.asIntN(8, int(v))))); return;
      case 'u16': this.fixed(2, (b) => b.writeUInt16LE(Number(BigInt.asUintN(16, int(v))))); return;
      case 'i16': this.fixed(2, (b) => b.writeInt16LE(Number(BigInt.asIntN(16, int(v))))); return;
      case 'u32': this.fixed(4, (b) => b.writeUInt32LE(Number(BigInt.asUintN(32, int(v))))); return;
      case 'i32': this.fixed(4, (b) => b.writeInt32LE(Number(BigInt.asIntN(32, int(v))))); return;
      case 'f32': this.fixed(4, (b) => b.writeFloatLE(real(v))); return;
      case 'u64': this.fixed(8, (b) => b.writeBigUInt64LE(BigInt.asUintN(64, int(v)))); return;
      case 'i64': this.fixed(8, (b) => b.writeBigInt64LE(BigInt.asIntN(64, int(v)))); return;
      case 'f64': this.fixed(8, (b) => b.writeDoubleLE(real(v))); return;
      case 'string': this.str(typeof v === 'string' ? v : String(typeof v === 'object' ? '' : v)); return;
      case 'array': {
        const a: GgufArray = typeof v === 'object' ? v : { itemType: GGUF_TYPE.u32, items: [v] };
        this.u32(a.itemType);
        this.u64(a.items.length, true);
        for (const item of a.items) this.value(a.itemType, item);
        return;
      }
      default:
        // An unknown type id: write 8 arbitrary bytes so the reader has something to trip on.
        this.fixed(8, (b) => b.writeBigUInt64LE(BigInt.asUintN(64, int(v))));
    }
  }
  result(): Buffer { return Buffer.concat(this.parts); }
}

/** Serialize; returns the bytes and the positions of every u64 length/count field (for length mutations). */
export function writeGgufBytes(doc: GgufDoc): { bytes: Buffer; lengthFields: number[]; headerEnd: number } {
  const w = new Writer();
  w.u32(0x46554747);
  w.u32(doc.version);
  w.u64(doc.tensorCountOverride ?? doc.tensors.length, true);
  w.u64(doc.kvCountOverride ?? doc.kvs.length, true);
  for (const kv of doc.kvs) {
    w.str(kv.key);
    w.u32(kv.type);
    w.value(kv.type, kv.value);
  }
  for (const t of doc.tensors) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(t.offset);
  }
  const headerEnd = w.length;
  const pad = (doc.alignment - (w.length % doc.alignment)) % doc.alignment;
  if (pad > 0 && Number.isFinite(pad)) w.raw(Buffer.alloc(pad));
  w.raw(doc.data);
  return { bytes: w.result(), lengthFields: w.lengthFields, headerEnd };
}

export function cloneGguf(doc: GgufDoc): GgufDoc {
  const cloneVal = (v: GgufVal): GgufVal => (typeof v === 'object' ? { itemType: v.itemType, items: v.items.map(cloneVal) } : v);
  return {
    ...doc,
    kvs: doc.kvs.map((k) => ({ ...k, value: cloneVal(k.value) })),
    tensors: doc.tensors.map((t) => ({ ...t, dims: [...t.dims] })),
  };
}

// ---------------------------------------------------------------------------------------------
// llama2.c checkpoints

export const LLAMA2C_MAGIC = 0x616b3432;

export interface Llama2cConfig {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seq: number;
  shared: boolean;
  version: 0 | 1;
}

/** A checkpoint with random weights in the layout of the given export version. */
export function buildLlama2c(c: Llama2cConfig, rand: (n: number, scale: number) => Float32Array): Buffer {
  const { dim: D, hidden: F, layers: L, vocab: V, seq } = c;
  const hd = D / c.heads;
  const kv = c.kvHeads * hd;
  const ones = (n: number): Float32Array => {
    const a = rand(n, 0.1);
    for (let i = 0; i < n; i++) a[i] += 1;
    return a;
  };
  const w = 1 / Math.sqrt(D);
  const sec = {
    emb: rand(V * D, 0.5), rmsAtt: ones(L * D), wq: rand(L * D * D, w), wk: rand(L * kv * D, w), wv: rand(L * kv * D, w), wo: rand(L * D * D, w),
    rmsFfn: ones(L * D), w1: rand(L * F * D, w), w2: rand(L * D * F, 1 / Math.sqrt(F)), w3: rand(L * F * D, w), rmsFinal: ones(D),
    freqs: new Float32Array(seq * hd), wcls: c.shared ? new Float32Array(0) : rand(V * D, 0.5),
  };
  const fields = [D, F, L, c.heads, c.kvHeads, c.version === 0 && !c.shared ? -V : V, seq];
  let header: Buffer;
  let order: Float32Array[];
  if (c.version === 1) {
    header = Buffer.alloc(256);
    header.writeUInt32LE(LLAMA2C_MAGIC, 0);
    header.writeInt32LE(1, 4);
    fields.forEach((v, i) => header.writeInt32LE(v, 8 + 4 * i));
    header.writeUInt8(c.shared ? 1 : 0, 36);
    order = [sec.rmsAtt, sec.rmsFfn, sec.rmsFinal, sec.emb, sec.wq, sec.wk, sec.wv, sec.wo, sec.w1, sec.w2, sec.w3, sec.wcls];
  } else {
    header = Buffer.alloc(28);
    fields.forEach((v, i) => header.writeInt32LE(v, 4 * i));
    order = [sec.emb, sec.rmsAtt, sec.wq, sec.wk, sec.wv, sec.wo, sec.rmsFfn, sec.w1, sec.w2, sec.w3, sec.rmsFinal, sec.freqs, sec.wcls];
  }
  return Buffer.concat([header, ...order.map(f32Bytes)]);
}
