/**
 * GGUF writing (v3), the exporters' side of the format: kept apart from the reader, it encodes
 * against the same definitions (gguf-format.ts) that the reader checks, so what it writes reads back.
 */
import { InvalidInputError } from './errors.js';
import { encodeF32 } from './dtype.js';
import { GgmlType, ggmlTypeInfo, ggmlTypeName, quantizeQ4_0, quantizeQ8_0 } from './ggml-quants.js';
import { writeFileAtomic } from './files.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS, quote, TYPE_ID, type GgufMetaEntry, type GgufMetaType, type GgufScalar } from './gguf-format.js';

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
const GGUF_WRITABLE_TYPES: readonly GgmlType[] = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0];

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
