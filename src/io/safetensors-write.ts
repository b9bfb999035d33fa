/**
 * safetensors writing, apart from the reader: everything steerer saves (vectors, probes, SAEs,
 * activations) goes through here, sized by the reader's own dtype table so it always reads back.
 */
import { InvalidInputError } from './errors.js';
import { writeFileAtomic } from './files.js';
import { encodeF32, encodeI32 } from './dtype.js';
import { describe, DTYPES } from './safetensors.js';

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
