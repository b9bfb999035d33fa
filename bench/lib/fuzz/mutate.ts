/**
 * Case i of a fuzz run: a seed and one mutation, chosen by a PRNG seeded with (run seed, i).
 * Mutations: truncation, byte flips in headers and metadata, length/count fields set to huge
 * values, integer fields set to boundary values (0, 1, 3, 2^31-1, 2^32-1, 2^63 ...), dtype tags
 * and shapes changed, entries removed or duplicated, and JSON configs with numbers set to 0, -1,
 * huge, NaN-like strings, wrong types or missing keys. Data sections are not touched: what is
 * tested is how loaders handle what the headers claim.
 */
import { cloneGguf, GGUF_TYPE, parseGguf, parseSafetensors, writeGgufBytes, writeSafetensorsBytes, type GgufDoc, type GgufVal } from './formats.js';
import { caseSeed, Prng } from './prng.js';
import type { FileKind, SeedInfo } from './seeds.js';

export interface LoadedSeed {
  readonly info: SeedInfo;
  readonly files: ReadonlyMap<string, Buffer>;
}

export interface FuzzCase {
  readonly index: number;
  readonly kind: FileKind;
  readonly seed: string;
  /** Mutation family, e.g. "gguf.kv-int" (for per-operator counts). */
  readonly op: string;
  /** What exactly was changed, for reports. */
  readonly desc: string;
  readonly files: Map<string, Buffer>;
  readonly target: string;
}

/** Share of each file kind in a run. */
export const KIND_WEIGHTS: readonly (readonly [FileKind, number])[] = [['hf', 28], ['gguf', 25], ['llama2c', 14], ['vector', 16], ['sae', 17]];

const DELETE = Symbol('delete');
type JsonValue = unknown;

const INT_BOUNDARY: readonly bigint[] = [0n, 1n, 2n, 3n, 5n, 7n, 2n ** 16n, 2n ** 24n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
const FLOAT_BOUNDARY: readonly number[] = [0, -0, -1, 1, 0.5, 2, Number.NaN, Infinity, -Infinity, 1e-45, 1e-38, 1e-30, 1e-12, 1e12, 1e38, 3.4028234663852886e38, -1e-6];

function jsonValues(current: unknown): JsonValue[] {
  const base: JsonValue[] = [
    DELETE, null, 0, -1, 1, 2, 3, 5, 7, 0.5, 1.5, -0.5, 1e-12, 1e-300, 5e-324, 1e12, -1e12, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32,
    2 ** 53, 2 ** 63, 1e308, 'NaN', 'Infinity', '-1', '12', '', 'x', true, false, [], {}, [1, 2], { type: 'linear' },
  ];
  if (typeof current === 'number') {
    base.push(current + 1, current - 1, current * 2, current / 2, -current, current * 1000, current + 0.5);
  }
  if (typeof current === 'string') base.push(current.toUpperCase(), `${current}x`, current.slice(0, -1));
  return base;
}

/** Paths of a JSON object (objects only, up to depth 3). */
function jsonPaths(v: unknown, prefix: string[] = [], depth = 0, out: string[][] = []): string[][] {
  if (depth > 3 || v === null || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
    out.push([...prefix, k]);
    jsonPaths(child, [...prefix, k], depth + 1, out);
  }
  return out;
}

function getPath(obj: unknown, path: readonly string[]): unknown {
  let v = obj;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function setPath(obj: Record<string, unknown>, path: readonly string[], value: JsonValue): void {
  let v: Record<string, unknown> = obj;
  for (const k of path.slice(0, -1)) {
    const next = v[k];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) v[k] = {};
    v = v[k] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (value === DELETE) delete v[last];
  else v[last] = value;
}

const show = (v: unknown): string => {
  if (v === DELETE) return '<deleted>';
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 50 ? `${s.slice(0, 50)}...` : s;
};

/** Keys worth setting even when a seed does not have them. */
const EXTRA_CONFIG_PATHS: readonly string[][] = [
  ['partial_rotary_factor'], ['head_dim'], ['rope_theta'], ['rms_norm_eps'], ['num_key_value_heads'], ['max_position_embeddings'],
  ['rope_scaling'], ['rope_scaling', 'factor'], ['rope_scaling', 'type'], ['rope_scaling', 'rope_type'], ['rope_scaling', 'low_freq_factor'],
  ['rope_scaling', 'high_freq_factor'], ['rope_scaling', 'original_max_position_embeddings'], ['pad_token_id'], ['n_inner'],
  ['layer_norm_epsilon'], ['tie_word_embeddings'], ['model_type'], ['attention_bias'], ['mlp_bias'], ['hidden_act'],
];
const ROPE_SCALINGS: readonly JsonValue[] = [
  null, 'linear', [], { type: 'default' }, { type: 'yarn', factor: 4 }, { type: 'linear' }, { type: 'linear', factor: 0 }, { type: 'linear', factor: -2 },
  { type: 'linear', factor: 1e308 }, { type: 'linear', factor: 'NaN' }, { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 4, original_max_position_embeddings: 32 },
  { rope_type: 'llama3', factor: 8, low_freq_factor: 0, high_freq_factor: 4, original_max_position_embeddings: 32 },
  { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 0 },
  { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 1e300 },
  { rope_type: 'llama3', factor: 0, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
];
const MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3', 'gpt2', 'gemma', '', 'LLAMA'];

/** 1-3 edits of a JSON object; returns the description. */
function mutateJsonObject(obj: Record<string, unknown>, rng: Prng, extra: readonly string[][] = []): string {
  const edits: string[] = [];
  const n = rng.weighted([[1, 6], [2, 3], [3, 1]] as const);
  for (let e = 0; e < n; e++) {
    const paths = [...jsonPaths(obj), ...extra];
    if (paths.length === 0) break;
    const path = rng.pick(paths);
    const key = path[path.length - 1];
    const current = getPath(obj, path);
    let value: JsonValue;
    if (key === 'rope_scaling' && rng.chance(0.6)) value = rng.pick(ROPE_SCALINGS);
    else if (key === 'model_type' && rng.chance(0.6)) value = rng.pick(MODEL_TYPES);
    else value = rng.pick(jsonValues(current));
    setPath(obj, path, value);
    edits.push(`${path.join('.')} = ${show(value)}`);
  }
  return edits.join('; ');
}

/** Text-level corruption of a JSON file: truncation, byte flips, or a wrong top-level type. */
function corruptText(bytes: Buffer, rng: Prng): { bytes: Buffer; desc: string } {
  const r = rng.int(0, 3);
  if (r === 0) {
    const at = rng.int(0, Math.max(0, bytes.length - 1));
    return { bytes: bytes.subarray(0, at), desc: `truncated to ${at} bytes` };
  }
  if (r === 1) {
    const out = Buffer.from(bytes);
    const flips: number[] = [];
    for (let i = rng.int(1, 4); i > 0; i--) {
      const at = rng.int(0, out.length - 1);
      out[at] = rng.chance(0.5) ? out[at] ^ (1 << rng.int(0, 7)) : rng.int(0, 255);
      flips.push(at);
    }
    return { bytes: out, desc: `bytes changed at ${flips.join(',')}` };
  }
  if (r === 2) {
    const replacement = rng.pick(['[]', '"text"', '42', 'null', '', '{"a":', '\u0000', '\ufeff{}', '[{"model_type":"llama"}]']);
    return { bytes: Buffer.from(replacement, 'utf8'), desc: `replaced by ${show(replacement)}` };
  }
  const out = Buffer.concat([bytes, Buffer.from(rng.pick(['}', ',"x":1}', '\u00ff\u00fe', ' garbage']), 'latin1')]);
  return { bytes: out, desc: 'trailing garbage appended' };
}

function mutateJsonFile(bytes: Buffer, rng: Prng, extra: readonly string[][] = []): { bytes: Buffer; op: string; desc: string } {
  if (rng.chance(0.12)) {
    const c = corruptText(bytes, rng);
    return { bytes: c.bytes, op: 'json.text', desc: c.desc };
  }
  const obj = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  const desc = mutateJsonObject(obj, rng, extra);
  return { bytes: Buffer.from(JSON.stringify(obj), 'utf8'), op: 'json.fields', desc };
}

// ---------------------------------------------------------------------------------------------
// Generic binary mutations

function truncate(bytes: Buffer, headerEnd: number, rng: Prng): { bytes: Buffer; desc: string } {
  const at = rng.chance(0.5) ? rng.int(0, Math.min(bytes.length - 1, headerEnd + 16)) : rng.int(0, bytes.length - 1);
  return { bytes: bytes.subarray(0, at), desc: `truncated to ${at} of ${bytes.length} bytes` };
}

function flipBytes(bytes: Buffer, from: number, to: number, rng: Prng): { bytes: Buffer; desc: string } {
  const out = Buffer.from(bytes);
  const where: number[] = [];
  for (let i = rng.int(1, 4); i > 0; i--) {
    const at = rng.int(from, Math.max(from, Math.min(to, out.length) - 1));
    out[at] = rng.chance(0.5) ? out[at] ^ (1 << rng.int(0, 7)) : rng.int(0, 255);
    where.push(at);
  }
  return { bytes: out, desc: `bytes changed at ${where.join(',')}` };
}

function appendGarbage(bytes: Buffer, rng: Prng): { bytes: Buffer; desc: string } {
  const n = rng.pick([1, 3, 8, 31, 32, 4096]);
  const extra = Buffer.alloc(n);
  for (let i = 0; i < n; i++) extra[i] = rng.int(0, 255);
  return { bytes: Buffer.concat([bytes, extra]), desc: `${n} bytes appended` };
}

// ---------------------------------------------------------------------------------------------
// safetensors

const ST_DTYPES: readonly unknown[] = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'U16', 'U32', 'U64', 'F8_E4M3', 'C64', 'f32', 'X', '', 5, null, ['F32']];
const SAME_SIZE: Readonly<Record<string, readonly string[]>> = { F32: ['I32', 'U32'], F16: ['BF16', 'I16', 'U16'], BF16: ['F16', 'I16'], F64: ['I64'], I32: ['F32'] };

function dimValues(current: number): unknown[] {
  return [0, 1, 2, 3, current + 1, current - 1, current * 2, Math.floor(current / 2), 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 2 ** 63, -1, 1.5, '3', null, 1e308];
}

export function mutateSafetensors(bytes: Buffer, rng: Prng, metaKey?: string, metaExtra: readonly string[][] = []): { bytes: Buffer; op: string; desc: string } {
  const doc = parseSafetensors(bytes);
  const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
  const names = Object.keys(doc.header).filter((k) => k !== '__metadata__');
  const tensorName = (): string => rng.pick(names);
  const entry = (name: string): Record<string, unknown> => doc.header[name] as Record<string, unknown>;
  const op = rng.weighted([
    ['truncate', 8], ['header-bytes', 14], ['header-length', 7], ['dtype', 10], ['dtype-same-size', 5], ['shape', 14], ['offsets', 9],
    ['entry', 8], ['metadata', metaKey ? 18 : 3], ['header-text', 4], ['append', 3],
  ] as const);
  const result = (desc: string, out?: Buffer): { bytes: Buffer; op: string; desc: string } => ({ bytes: out ?? writeSafetensorsBytes(doc), op: `st.${op}`, desc });
  switch (op) {
    case 'truncate': { const t = truncate(bytes, headerEnd, rng); return result(t.desc, t.bytes); }
    case 'header-bytes': { const t = flipBytes(bytes, 0, headerEnd, rng); return result(`header ${t.desc}`, t.bytes); }
    case 'append': { const t = appendGarbage(bytes, rng); return result(t.desc, t.bytes); }
    case 'header-length': {
      const n = BigInt(headerEnd - 8);
      const v = rng.pick([0n, 1n, 2n, 7n, n - 1n, n + 1n, BigInt(bytes.length - 8), BigInt(bytes.length), 2n ** 31n - 1n, 2n ** 32n - 1n, 100_000_001n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]);
      const out = Buffer.from(bytes);
      out.writeBigUInt64LE(BigInt.asUintN(64, v), 0);
      return result(`header length field = ${v}`, out);
    }
    case 'dtype': {
      const name = tensorName();
      const v = rng.pick(ST_DTYPES);
      entry(name).dtype = v;
      return result(`${name}.dtype = ${show(v)}`);
    }
    case 'dtype-same-size': {
      const name = tensorName();
      const cur = String(entry(name).dtype);
      const v = rng.pick(SAME_SIZE[cur] ?? ['F32']);
      entry(name).dtype = v;
      return result(`${name}.dtype ${cur} -> ${v} (same element size)`);
    }
    case 'shape': {
      const name = tensorName();
      const e = entry(name);
      const shape = [...(e.shape as number[])];
      const kind = rng.int(0, 5);
      let v: unknown;
      if (kind === 0 && shape.length > 0) {
        const d = rng.int(0, shape.length - 1);
        const nv = rng.pick(dimValues(shape[d]));
        shape[d] = nv as number;
        v = shape;
      } else if (kind === 1 && shape.length === 2) v = [shape[1], shape[0]];
      else if (kind === 2) v = [...shape, 1];
      else if (kind === 3) v = shape.slice(1);
      else if (kind === 4) v = rng.pick([[], null, 'x', [[1]], {}, [shape.reduce((a, b) => a * b, 1)]]);
      else {
        // A self-consistent change: shape and byte range agree, the other tensors move.
        const d = rng.int(0, Math.max(0, shape.length - 1));
        if (shape.length > 0) shape[d] = rng.pick([1, 2, 3, shape[d] + 1, shape[d] - 1, shape[d] * 2]);
        v = shape;
      }
      e.shape = v;
      return result(`${name}.shape = ${show(v)}`);
    }
    case 'offsets': {
      const name = tensorName();
      const e = entry(name);
      const [b, end] = e.data_offsets as [number, number];
      const v = rng.pick<unknown>([[b, end + 1], [b, end - 1], [b + 1, end + 1], [0, end - b], [end, b], [b, 2 ** 53], [b, 2 ** 64], [-1, end], [b, end, 0], [b], null, [String(b), end], [b + 2 ** 31, end + 2 ** 31]]);
      e.data_offsets = v;
      return result(`${name}.data_offsets = ${show(v)}`);
    }
    case 'entry': {
      const name = tensorName();
      const r = rng.int(0, 5);
      if (r === 0) { delete doc.header[name]; return result(`tensor ${name} removed`); }
      if (r === 1) {
        const to = rng.pick([name.replace(/\d+/, (m) => String(Number(m) + 1)), `${name}.x`, '', 'x'.repeat(300), '__proto__', 'direction.999999999999', 'layers.-1', `${name}\u0000`]);
        doc.header[to] = doc.header[name];
        delete doc.header[name];
        return result(`tensor ${name} renamed to ${show(to)}`);
      }
      if (r === 2) { doc.header[`${name}.copy`] = { ...entry(name) }; return result(`tensor ${name} duplicated`); }
      if (r === 3) { const k = rng.pick(['dtype', 'shape', 'data_offsets']); delete entry(name)[k]; return result(`${name}.${k} removed`); }
      if (r === 4) { doc.header[name] = rng.pick([null, 1, 'x', []]); return result(`entry ${name} replaced by a non-object`); }
      const extraName = rng.pick(['rope_freqs.weight', 'W_skip', 'threshold', 'log_threshold', 'scaling_factor', 'model.layers.7.input_layernorm.weight', 'direction.3', 'mean.9']);
      doc.header[extraName] = { ...entry(name) };
      return result(`tensor ${extraName} added (aliasing ${name})`);
    }
    case 'metadata': {
      const meta = (doc.header.__metadata__ ?? {}) as Record<string, unknown>;
      if (metaKey && typeof meta[metaKey] === 'string' && rng.chance(0.85)) {
        const m = mutateJsonFile(Buffer.from(meta[metaKey] as string, 'utf8'), rng, metaExtra);
        meta[metaKey] = m.bytes.toString('utf8');
        doc.header.__metadata__ = meta;
        return { bytes: writeSafetensorsBytes(doc), op: `st.metadata.${m.op}`, desc: `metadata ${metaKey}: ${m.desc}` };
      }
      const r = rng.int(0, 3);
      if (r === 0) { doc.header.__metadata__ = rng.pick([null, 'x', [], 5]); return result('__metadata__ replaced by a non-object'); }
      if (r === 1 && metaKey) { delete meta[metaKey]; doc.header.__metadata__ = meta; return result(`metadata ${metaKey} removed`); }
      if (r === 2) { meta[metaKey ?? 'format'] = rng.pick([5, null, {}, ['x']]); doc.header.__metadata__ = meta; return result(`metadata ${metaKey ?? 'format'} set to a non-string`); }
      meta[rng.pick(['steerer', 'steerer_sae', 'format'])] = rng.pick(['{}', '[]', 'null', '{"format":"steerer.vector/v1"}', '{"format":"steerer.sae/v1"}']);
      doc.header.__metadata__ = meta;
      return result('metadata key added');
    }
    case 'header-text': {
      const text = JSON.stringify(doc.header);
      const r = rng.int(0, 2);
      if (r === 0) {
        const at = rng.int(0, text.length);
        return result(`header JSON cut at ${at}`, writeSafetensorsBytes(doc, { headerText: text.slice(0, at) }));
      }
      if (r === 1) {
        const out = writeSafetensorsBytes(doc);
        out[8 + rng.int(0, text.length - 1)] = rng.pick([0x80, 0xff, 0xc0, 0x00, 0x22, 0x5c]);
        return result('header JSON byte set to invalid UTF-8 / quote / backslash', out);
      }
      return result('header JSON padded with a BOM', writeSafetensorsBytes(doc, { headerText: `\ufeff${text}` }));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GGUF

const GGUF_TYPES = Object.values(GGUF_TYPE);
const ARCH_NAMES = ['llama', 'mistral', 'qwen2', 'qwen3', 'gpt2', 'controlvector', 'phi3', 'bert', '', 'LLAMA'];

function intValuesFor(current: GgufVal): GgufVal[] {
  const out: GgufVal[] = [...INT_BOUNDARY, -1n, -(2n ** 31n), -(2n ** 63n)];
  if (typeof current === 'number' || typeof current === 'bigint') {
    const c = BigInt(typeof current === 'number' ? Math.trunc(current) : current);
    out.push(c + 1n, c - 1n, c * 2n, c / 2n, c * 3n);
  }
  return out;
}

export function mutateGguf(bytes: Buffer, rng: Prng): { bytes: Buffer; op: string; desc: string } {
  const seed = parseGguf(bytes);
  const doc: GgufDoc = cloneGguf(seed);
  const { headerEnd, lengthFields } = writeGgufBytes(doc);
  const op = rng.weighted([
    ['truncate', 7], ['header-bytes', 10], ['length-field', 9], ['kv-int', 20], ['kv-float', 6], ['kv-other', 9], ['kv-struct', 7],
    ['tensor-type', 9], ['tensor-dims', 12], ['tensor-offset', 5], ['tensor-struct', 5], ['version', 1], ['append', 1],
  ] as const);
  const result = (desc: string, out?: Buffer): { bytes: Buffer; op: string; desc: string } => ({ bytes: out ?? writeGgufBytes(doc).bytes, op: `gguf.${op}`, desc });
  const numericKvs = doc.kvs.filter((k) => typeof k.value === 'number' || typeof k.value === 'bigint');
  switch (op) {
    case 'truncate': { const t = truncate(bytes, headerEnd, rng); return result(t.desc, t.bytes); }
    case 'header-bytes': { const t = flipBytes(bytes, 0, headerEnd, rng); return result(`header ${t.desc}`, t.bytes); }
    case 'append': { const t = appendGarbage(bytes, rng); return result(t.desc, t.bytes); }
    case 'version': { doc.version = rng.pick([0, 1, 4, 0x03000000, 0xffffffff]); return result(`version = ${doc.version}`); }
    case 'length-field': {
      const at = rng.pick(lengthFields);
      const cur = bytes.readBigUInt64LE(at);
      const v = rng.pick([...INT_BOUNDARY, cur + 1n, cur - 1n, cur * 2n, cur + 2n ** 32n]);
      const out = Buffer.from(bytes);
      out.writeBigUInt64LE(BigInt.asUintN(64, v), at);
      return result(`u64 length/count field at byte ${at}: ${cur} -> ${v}`, out);
    }
    case 'kv-int': {
      // Prefer the architecture's own keys: the ones the model graph is built from.
      const archKvs = numericKvs.filter((k) => !k.key.startsWith('general.'));
      const kv = rng.pick(archKvs.length > 0 && rng.chance(0.8) ? archKvs : numericKvs);
      const v = rng.pick(intValuesFor(kv.value));
      const type = rng.chance(0.7) ? kv.type : rng.pick([GGUF_TYPE.u32, GGUF_TYPE.i32, GGUF_TYPE.u64, GGUF_TYPE.i64, GGUF_TYPE.u8, GGUF_TYPE.f32, GGUF_TYPE.f64, GGUF_TYPE.bool, GGUF_TYPE.string]);
      kv.value = type === GGUF_TYPE.f32 || type === GGUF_TYPE.f64 ? Number(v) : type === GGUF_TYPE.string ? String(v) : v;
      kv.type = type;
      return result(`${kv.key} = ${v} (type ${type})`);
    }
    case 'kv-float': {
      const floats = doc.kvs.filter((k) => k.type === GGUF_TYPE.f32 || k.type === GGUF_TYPE.f64);
      const kv = floats.length > 0 ? rng.pick(floats) : rng.pick(numericKvs);
      const v = rng.pick(FLOAT_BOUNDARY);
      kv.type = rng.chance(0.8) ? GGUF_TYPE.f32 : GGUF_TYPE.f64;
      kv.value = v;
      return result(`${kv.key} = ${v}`);
    }
    case 'kv-other': {
      const others = doc.kvs.filter((k) => typeof k.value === 'string' || typeof k.value === 'boolean' || typeof k.value === 'object');
      const kv = rng.pick(others);
      if (kv.key === 'general.architecture' && rng.chance(0.7)) { kv.value = rng.pick(ARCH_NAMES); return result(`${kv.key} = ${show(kv.value)}`); }
      if (kv.key === 'tokenizer.ggml.model' && rng.chance(0.7)) { kv.value = rng.pick(['llama', 'gpt2', 'bert', '', 'none']); return result(`${kv.key} = ${show(kv.value)}`); }
      if (kv.key === 'tokenizer.ggml.pre' && rng.chance(0.7)) { kv.value = rng.pick(['gpt2', 'llama3', 'qwen2', 'smollm', 'xx', '__proto__', 'constructor']); return result(`${kv.key} = ${show(kv.value)}`); }
      if (typeof kv.value === 'boolean') { kv.type = rng.pick([GGUF_TYPE.bool, GGUF_TYPE.u8, GGUF_TYPE.string]); kv.value = rng.pick<GgufVal>([2, 255, 'true', 0]); return result(`${kv.key} = ${show(kv.value)} (type ${kv.type})`); }
      if (typeof kv.value === 'string') { kv.value = rng.pick(['', 'x'.repeat(5000), '\u0000', 'linear', 'yarn', 'none', `${kv.value}\u00ff`]); return result(`${kv.key} = ${show(kv.value)}`); }
      const arr = kv.value as { itemType: number; items: GgufVal[] };
      const r = rng.int(0, 6);
      if (r === 0) { const n = rng.int(0, arr.items.length - 1); arr.items = arr.items.slice(0, n); return result(`${kv.key} cut to ${n} items`); }
      if (r === 1) { arr.items = [...arr.items, ...arr.items.slice(0, rng.int(1, 5))]; return result(`${kv.key} has extra items`); }
      if (r === 2) { const t = rng.pick(GGUF_TYPES); arr.itemType = t; return result(`${kv.key} item type -> ${t}`); }
      if (r === 3) {
        const i = rng.int(0, arr.items.length - 1);
        const v = arr.itemType === GGUF_TYPE.string ? rng.pick<GgufVal>(['', ' ', 'a', 'a b c', '\u0000', 'x'.repeat(70000)]) : rng.pick<GgufVal>([Number.NaN, Infinity, -1, 99, 2 ** 31 - 1, 6, 3, 0]);
        arr.items[i] = v;
        return result(`${kv.key}[${i}] = ${show(v)}`);
      }
      if (r === 4) { arr.items = []; return result(`${kv.key} emptied`); }
      if (r === 5) { kv.type = GGUF_TYPE.array; kv.value = { itemType: GGUF_TYPE.array, items: [{ itemType: GGUF_TYPE.u32, items: [1, 2] }] }; return result(`${kv.key} = nested array`); }
      kv.type = rng.pick([GGUF_TYPE.u32, GGUF_TYPE.string]);
      kv.value = kv.type === GGUF_TYPE.u32 ? 7 : 'x';
      return result(`${kv.key} replaced by a scalar`);
    }
    case 'kv-struct': {
      const arch = String(doc.kvs.find((k) => k.key === 'general.architecture')?.value ?? 'llama');
      const r = rng.int(0, 3);
      if (r === 0) { const i = rng.int(0, doc.kvs.length - 1); const [k] = doc.kvs.splice(i, 1); return result(`${k.key} removed`); }
      if (r === 1) { const k = rng.pick(doc.kvs); doc.kvs.push({ ...k }); return result(`${k.key} duplicated`); }
      const adds: [string, number, GgufVal][] = [
        [`${arch}.rope.dimension_count`, GGUF_TYPE.u32, rng.pick<GgufVal>([0, 1, 3, 4, 5, 6, 8, 10, 16, 2 ** 31 - 1, 2 ** 32 - 1])],
        [`${arch}.rope.scaling.type`, GGUF_TYPE.string, rng.pick(['linear', 'yarn', 'none', ''])],
        [`${arch}.rope.scaling.factor`, GGUF_TYPE.f32, rng.pick(FLOAT_BOUNDARY)],
        [`${arch}.attention.key_length`, GGUF_TYPE.u32, rng.pick<GgufVal>([0, 1, 3, 7, 8, 16, 2 ** 32 - 1])],
        [`${arch}.vocab_size`, GGUF_TYPE.u32, rng.pick<GgufVal>([0, 1, 265, 2047, 2048, 2 ** 32 - 1])],
        [`${arch}.context_length`, GGUF_TYPE.u64, rng.pick(INT_BOUNDARY)],
        ['general.alignment', rng.pick([GGUF_TYPE.u32, GGUF_TYPE.u64]), rng.pick<GgufVal>([0, 1, 3, 8, 64, 2 ** 31, 2 ** 32 - 1])],
        ['tokenizer.ggml.padding_token_id', GGUF_TYPE.u32, rng.pick<GgufVal>([0, 2 ** 32 - 1, 100000])],
        ['tokenizer.ggml.add_space_prefix', GGUF_TYPE.u8, 3],
        ['tokenizer.ggml.merges', GGUF_TYPE.array, { itemType: rng.pick([GGUF_TYPE.string, GGUF_TYPE.u32]), items: rng.pick<GgufVal[]>([['a b'], ['ab'], [' '], [5], []]) }],
      ];
      const [key, type, value] = rng.pick(adds);
      const existing = doc.kvs.find((k) => k.key === key);
      if (existing) { existing.type = type; existing.value = value; } else doc.kvs.push({ key, type, value });
      return result(`${key} = ${show(value)} (type ${type})`);
    }
    case 'tensor-type': {
      const t = rng.pick(doc.tensors);
      const v = rng.chance(0.85) ? rng.int(0, 41) : rng.pick([99, 2 ** 31, 2 ** 32 - 1]);
      t.type = v;
      return result(`${t.name}.type = ${v}`);
    }
    case 'tensor-dims': {
      const t = rng.pick(doc.tensors);
      const r = rng.int(0, 4);
      if (r === 0 || t.dims.length === 0) {
        const d = rng.int(0, Math.max(0, t.dims.length - 1));
        const cur = t.dims[d] ?? 1n;
        const v = rng.pick([...INT_BOUNDARY, cur + 1n, cur - 1n, cur * 2n, cur / 2n]);
        t.dims[d] = v;
        return result(`${t.name}.dims[${d}] = ${v}`);
      }
      if (r === 1 && t.dims.length === 2) { t.dims = [t.dims[1], t.dims[0]]; return result(`${t.name} dims swapped`); }
      if (r === 2) { t.dims = [...t.dims, rng.pick([1n, 2n, 0n])]; return result(`${t.name} gained a dimension`); }
      if (r === 3) { t.dims = t.dims.slice(1); return result(`${t.name} lost its first dimension`); }
      t.dims = [1n, 1n, 1n, 1n, 1n];
      return result(`${t.name} has 5 dimensions`);
    }
    case 'tensor-offset': {
      const t = rng.pick(doc.tensors);
      const v = rng.pick([0n, 1n, 31n, 32n, t.offset + 32n, t.offset - 32n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n]);
      t.offset = BigInt.asUintN(64, v);
      return result(`${t.name}.offset = ${t.offset}`);
    }
    case 'tensor-struct': {
      const r = rng.int(0, 3);
      const i = rng.int(0, doc.tensors.length - 1);
      const t = doc.tensors[i];
      if (r === 0) { doc.tensors.splice(i, 1); return result(`tensor ${t.name} removed`); }
      if (r === 1) { doc.tensors.push({ ...t, dims: [...t.dims] }); return result(`tensor ${t.name} duplicated`); }
      if (r === 2) {
        const to = rng.pick(['rope_freqs.weight', 'output.weight', 'blk.0.attn_qkv.weight', 'blk.0.attn_q.bias', 'blk.0.attn_q_norm.weight', 'direction.0', 'direction.99999999999', '', t.name.replace(/\d+/, '7')]);
        const from = t.name;
        t.name = to;
        return result(`tensor ${from} renamed to ${show(to)}`);
      }
      // rope_freqs: per-frequency divisors aliasing an existing tensor's bytes.
      doc.tensors.push({ name: 'rope_freqs.weight', dims: [rng.pick([1n, 2n, 3n, 4n, 8n])], type: 0, offset: t.offset });
      return result('rope_freqs.weight added');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// llama2.c

function mutateLlama2c(files: Map<string, Buffer>, rng: Prng): { op: string; desc: string } {
  const bin = files.get('model.bin')!;
  const v1 = bin.readUInt32LE(0) === 0x616b3432;
  const headerEnd = v1 ? 256 : 28;
  const fieldsAt = v1 ? 8 : 0;
  const NAMES = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  const op = rng.weighted([['header-int', 50], ['header-bytes', 9], ['truncate', 8], ['append', 4], ['tokenizer', 22], ['version', v1 ? 7 : 0]] as const);
  const out = Buffer.from(bin);
  switch (op) {
    case 'header-int': {
      const n = rng.weighted([[1, 7], [2, 2], [3, 1]] as const);
      const edits: string[] = [];
      for (let e = 0; e < n; e++) {
        const f = rng.int(0, 6);
        const cur = out.readInt32LE(fieldsAt + 4 * f);
        const v = rng.pick([0, 1, 2, 3, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 16, 2 ** 24, cur + 1, cur - 1, cur * 2, Math.trunc(cur / 2), -cur, 5, 7]);
        out.writeInt32LE(Number(BigInt.asIntN(32, BigInt(v))), fieldsAt + 4 * f);
        edits.push(`${NAMES[f]} = ${Number(BigInt.asIntN(32, BigInt(v)))}`);
      }
      files.set('model.bin', out);
      return { op: 'l2c.header-int', desc: edits.join('; ') };
    }
    case 'header-bytes': { const t = flipBytes(bin, 0, headerEnd, rng); files.set('model.bin', t.bytes); return { op: 'l2c.header-bytes', desc: t.desc }; }
    case 'truncate': { const t = truncate(bin, headerEnd, rng); files.set('model.bin', t.bytes); return { op: 'l2c.truncate', desc: t.desc }; }
    case 'append': { const t = appendGarbage(bin, rng); files.set('model.bin', t.bytes); return { op: 'l2c.append', desc: t.desc }; }
    case 'version': {
      const r = rng.int(0, 2);
      if (r === 0) out.writeInt32LE(rng.pick([0, 2, 3, -1, 2 ** 31 - 1]), 4);
      else if (r === 1) out.writeUInt8(rng.pick([0, 2, 255]), 36);
      else out.writeUInt32LE(0x616b3433, 0);
      files.set('model.bin', out);
      return { op: 'l2c.version', desc: ['version field changed', 'shared flag changed', 'magic changed'][r] };
    }
    case 'tokenizer': {
      const tok = Buffer.from(files.get('tok512.bin')!);
      const r = rng.int(0, 4);
      let desc: string;
      if (r === 0) { const v = rng.pick([0, -1, 1, 2 ** 16 + 1, 2 ** 31 - 1]); tok.writeInt32LE(v, 0); desc = `max_token_length = ${v}`; }
      else if (r === 1) {
        // Walk to token k and change its length field.
        const k = rng.int(0, 511);
        let off = 4;
        for (let i = 0; i < k; i++) off += 8 + tok.readInt32LE(off + 4);
        const v = rng.pick([-1, 0, 1000, 2 ** 31 - 1, 70000]);
        tok.writeInt32LE(v, off + 4);
        desc = `token ${k} length = ${v}`;
      } else if (r === 2) {
        const k = rng.int(0, 511);
        let off = 4;
        for (let i = 0; i < k; i++) off += 8 + tok.readInt32LE(off + 4);
        tok.writeUInt32LE(rng.pick([0x7fc00000, 0x7f800000, 0xff800000]), off);
        desc = `token ${k} score non-finite`;
      } else if (r === 3) { const t = truncate(tok, 64, rng); files.set('tok512.bin', t.bytes); return { op: 'l2c.tokenizer', desc: `tokenizer ${t.desc}` }; }
      else { const t = flipBytes(tok, 0, tok.length, rng); files.set('tok512.bin', t.bytes); return { op: 'l2c.tokenizer', desc: `tokenizer ${t.desc}` }; }
      files.set('tok512.bin', tok);
      return { op: 'l2c.tokenizer', desc };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Cases

function mutateHf(files: Map<string, Buffer>, rng: Prng): { op: string; desc: string } {
  const which = rng.weighted([['config', 45], ['weights', 40], ['tokenizer', 5], ['tokenizer_config', 3], ['generation_config', 3], ['index', 2], ['both', 2]] as const);
  if (which === 'config' || which === 'both') {
    const m = mutateJsonFile(files.get('config.json')!, rng, EXTRA_CONFIG_PATHS);
    files.set('config.json', m.bytes);
    if (which === 'config') return { op: `hf.config.${m.op}`, desc: `config.json: ${m.desc}` };
    const w = mutateSafetensors(files.get('model.safetensors')!, rng);
    files.set('model.safetensors', w.bytes);
    return { op: 'hf.config+weights', desc: `config.json: ${m.desc}; model.safetensors: ${w.desc}` };
  }
  if (which === 'weights') {
    const w = mutateSafetensors(files.get('model.safetensors')!, rng);
    files.set('model.safetensors', w.bytes);
    return { op: `hf.${w.op}`, desc: `model.safetensors: ${w.desc}` };
  }
  if (which === 'index') {
    const index = rng.pick<unknown>([
      { weight_map: {} }, { weight_map: { 'lm_head.weight': '../model.safetensors' } }, { weight_map: { 'lm_head.weight': 'missing.safetensors' } },
      { weight_map: { 'lm_head.weight': 'model.safetensors' } }, { weight_map: { 'model.norm.weight': 5 } }, [], { metadata: {} }, 'x',
    ]);
    files.set('model.safetensors.index.json', Buffer.from(JSON.stringify(index)));
    return { op: 'hf.index', desc: `model.safetensors.index.json = ${show(index)}` };
  }
  const name = `${which}.json`;
  const extra: string[][] = which === 'tokenizer' ? [['model', 'type'], ['model', 'vocab'], ['model', 'merges'], ['added_tokens'], ['pre_tokenizer'], ['decoder']] : [['eos_token_id'], ['bos_token_id'], ['add_bos_token'], ['bos_token']];
  const m = mutateJsonFile(files.get(name)!, rng, extra);
  files.set(name, m.bytes);
  return { op: `hf.${which}.${m.op}`, desc: `${name}: ${m.desc}` };
}

const VECTOR_META_PATHS: readonly string[][] = [['model', 'hiddenSize'], ['model', 'numLayers'], ['recommended', 'layers'], ['format'], ['site'], ['method']];
const SAE_META_PATHS: readonly string[][] = [['dIn'], ['dSae'], ['activation', 'k'], ['activation', 'kind'], ['hook', 'layer'], ['hook', 'site'], ['inputScale'], ['format']];
const SAE_CFG_PATHS: readonly string[][] = [
  ['d_in'], ['d_sae'], ['k'], ['architecture'], ['activation_fn_str'], ['activation_fn_kwargs', 'k'], ['hook_name'], ['normalize_activations'],
  ['scaling_factor'], ['jump_relu_threshold'], ['num_latents'], ['expansion_factor'], ['transcode'], ['activation'], ['hook_head_index'],
];

function mutateVector(seed: LoadedSeed, files: Map<string, Buffer>, rng: Prng): { op: string; desc: string } {
  const [name, bytes] = [...files][0];
  const m = name.endsWith('.gguf') ? mutateGguf(bytes, rng) : mutateSafetensors(bytes, rng, seed.info.name === 'vec-native' ? 'steerer' : undefined, VECTOR_META_PATHS);
  files.set(name, m.bytes);
  return { op: `vector.${m.op}`, desc: `${name}: ${m.desc}` };
}

function mutateSae(seed: LoadedSeed, files: Map<string, Buffer>, rng: Prng): { op: string; desc: string } {
  const cfg = [...files.keys()].find((k) => k.endsWith('cfg.json'));
  const weights = [...files.keys()].find((k) => k.endsWith('.safetensors'))!;
  if (cfg && rng.chance(0.5)) {
    const m = mutateJsonFile(files.get(cfg)!, rng, SAE_CFG_PATHS);
    files.set(cfg, m.bytes);
    return { op: `sae.cfg.${m.op}`, desc: `${cfg}: ${m.desc}` };
  }
  const m = mutateSafetensors(files.get(weights)!, rng, cfg ? undefined : 'steerer_sae', SAE_META_PATHS);
  files.set(weights, m.bytes);
  return { op: `sae.${m.op}`, desc: `${weights}: ${m.desc}` };
}

/** Case `index` of a run: always the same files for the same (runSeed, index). */
export function makeCase(seeds: readonly LoadedSeed[], runSeed: number, index: number, kinds?: readonly FileKind[]): FuzzCase {
  const rng = new Prng(caseSeed(runSeed, index));
  const weights = kinds ? KIND_WEIGHTS.filter(([k]) => kinds.includes(k)) : KIND_WEIGHTS;
  const kind = rng.weighted(weights);
  const seed = rng.pick(seeds.filter((s) => s.info.kind === kind));
  const files = new Map(seed.files);
  let m: { op: string; desc: string };
  switch (kind) {
    case 'hf': m = mutateHf(files, rng); break;
    case 'gguf': {
      const g = mutateGguf(files.get('model.gguf')!, rng);
      files.set('model.gguf', g.bytes);
      m = g;
      break;
    }
    case 'llama2c': m = mutateLlama2c(files, rng); break;
    case 'vector': m = mutateVector(seed, files, rng); break;
    case 'sae': m = mutateSae(seed, files, rng); break;
  }
  return { index, kind, seed: seed.info.name, op: m.op, desc: m.desc, files, target: seed.info.target };
}
