import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError, ModelFileError } from '../src/io/errors.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../src/io/dtype.js';
import { GgmlType, GgufFile } from '../src/io/gguf.js';
import { writeGguf } from '../src/io/gguf-write.js';
import type { GgufMetaEntry } from '../src/io/gguf-format.js';
import { dequantize, quantizeQ4_0, quantizeQ8_0 } from '../src/io/ggml-quants.js';
import { rng } from './helpers/prng.js';

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'steerer-gguf-')); });
after(() => { rmSync(dir, { recursive: true, force: true }); });
let counter = 0;
const fresh = (): string => {
  const d = join(dir, `case${counter++}`);
  mkdirSync(d);
  return join(d, 'm.gguf');
};


// ---------------------------------------------------------------------------------------------
// An independent GGUF builder (does not use the library's writer), for hand-built files.

class Bytes {
  private parts: Buffer[] = [];
  length = 0;
  raw(b: Uint8Array): this { this.parts.push(Buffer.from(b)); this.length += b.length; return this; }
  u32(v: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(v); return this.raw(b); }
  u64(v: number | bigint): this { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return this.raw(b); }
  str(s: string): this { const b = Buffer.from(s, 'utf8'); return this.u64(b.length).raw(b); }
  build(): Buffer { return Buffer.concat(this.parts); }
}

interface HandTensor { name: string; dims: number[]; type: number; data: Uint8Array; offset?: number }
function buildGguf(opts: { version?: number; kv?: ((b: Bytes) => void)[]; tensors?: HandTensor[]; alignment?: number; tensorCount?: number; kvCount?: number }): Buffer {
  const align = opts.alignment ?? 32;
  const kv = opts.kv ?? [];
  const tensors = opts.tensors ?? [];
  const b = new Bytes();
  b.raw(Buffer.from('GGUF', 'ascii')).u32(opts.version ?? 3).u64(opts.tensorCount ?? tensors.length).u64(opts.kvCount ?? kv.length);
  for (const f of kv) f(b);
  let off = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    b.str(t.name).u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type).u64(t.offset ?? off);
    offsets.push(off);
    off += Math.ceil(t.data.length / align) * align;
  }
  b.raw(new Uint8Array((align - (b.length % align)) % align));
  for (const t of tensors) b.raw(t.data).raw(new Uint8Array((align - (t.data.length % align)) % align));
  return b.build();
}
const kvU32 = (key: string, v: number) => (b: Bytes) => { b.str(key).u32(4).u32(v); };
const kvStr = (key: string, v: string) => (b: Bytes) => { b.str(key).u32(8).str(v); };

function halfBytes(dst: Uint8Array, at: number, v: number): void {
  const h = f32ToF16(v);
  assert.equal(f16ToF32(h), v, 'test scale must be exact in f16');
  dst[at] = h & 0xff;
  dst[at + 1] = h >> 8;
}

// ---------------------------------------------------------------------------------------------
// Hand-packed K-quant blocks. Each packer places values element by element following the
// documented layout, and returns what ggml's formula gives for each element.

function packQ4K(d: number, dmin: number, sc: number[], mn: number[], q: number[]): { block: Uint8Array; expected: number[] } {
  const blk = new Uint8Array(144);
  halfBytes(blk, 0, d); halfBytes(blk, 2, dmin);
  for (let j = 0; j < 4; j++) {
    blk[4 + j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
    blk[4 + j + 4] = (mn[j] & 63) | ((mn[j + 4] >> 4) << 6);
    blk[4 + j + 8] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4);
  }
  const expected: number[] = [];
  for (let i = 0; i < 256; i++) {
    const g = i >> 5;
    const at = 16 + (g >> 1) * 32 + (i & 31);
    blk[at] |= g & 1 ? q[i] << 4 : q[i];
    expected.push(d * sc[g] * q[i] - dmin * mn[g]);
  }
  return { block: blk, expected };
}

function packQ5K(d: number, dmin: number, sc: number[], mn: number[], q: number[]): { block: Uint8Array; expected: number[] } {
  const blk = new Uint8Array(176);
  halfBytes(blk, 0, d); halfBytes(blk, 2, dmin);
  for (let j = 0; j < 4; j++) {
    blk[4 + j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
    blk[4 + j + 4] = (mn[j] & 63) | ((mn[j + 4] >> 4) << 6);
    blk[4 + j + 8] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4);
  }
  const expected: number[] = [];
  for (let i = 0; i < 256; i++) {
    const g = i >> 5;
    const at = 48 + (g >> 1) * 32 + (i & 31);
    blk[at] |= g & 1 ? (q[i] & 15) << 4 : q[i] & 15;
    blk[16 + (i & 31)] |= (q[i] >> 4) << g;
    expected.push(d * sc[g] * q[i] - dmin * mn[g]);
  }
  return { block: blk, expected };
}

function packQ6K(d: number, sc: number[], q: number[]): { block: Uint8Array; expected: number[] } {
  const blk = new Uint8Array(210);
  halfBytes(blk, 208, d);
  for (let k = 0; k < 16; k++) blk[192 + k] = sc[k] & 0xff;
  const expected: number[] = [];
  for (let i = 0; i < 256; i++) {
    const n = i >> 7, r = i & 127, k = r >> 5, l = r & 31;
    const ql = n * 64 + l + (k & 1) * 32;
    blk[ql] |= k < 2 ? q[i] & 15 : (q[i] & 15) << 4;
    blk[128 + n * 32 + l] |= (q[i] >> 4) << (2 * k);
    expected.push(d * sc[i >> 4] * (q[i] - 32));
  }
  return { block: blk, expected };
}

/** v in [-4, 3]; s: 16 six-bit scales (effective s - 32). */
function packQ3K(d: number, s: number[], v: number[]): { block: Uint8Array; expected: number[] } {
  const blk = new Uint8Array(110);
  halfBytes(blk, 108, d);
  for (let k = 0; k < 16; k++) {
    blk[96 + (k & 7)] |= k < 8 ? s[k] & 15 : (s[k] & 15) << 4;
    blk[96 + 8 + (k & 3)] |= (s[k] >> 4) << (2 * (k >> 2));
  }
  const expected: number[] = [];
  for (let i = 0; i < 256; i++) {
    const n = i >> 7, r = i & 127, j = r >> 5, l = r & 31;
    const high = v[i] >= 0 ? 1 : 0;
    const low = v[i] >= 0 ? v[i] : v[i] + 4;
    blk[32 + n * 32 + l] |= low << (2 * j);
    blk[l] |= high << (n * 4 + j);
    expected.push(d * (s[i >> 4] - 32) * v[i]);
  }
  return { block: blk, expected };
}

function packQ2K(d: number, dmin: number, sc: number[], mn: number[], q: number[]): { block: Uint8Array; expected: number[] } {
  const blk = new Uint8Array(84);
  for (let k = 0; k < 16; k++) blk[k] = sc[k] | (mn[k] << 4);
  halfBytes(blk, 80, d); halfBytes(blk, 82, dmin);
  const expected: number[] = [];
  for (let i = 0; i < 256; i++) {
    const n = i >> 7, r = i & 127, j = r >> 5, l = r & 31;
    blk[16 + n * 32 + l] |= q[i] << (2 * j);
    expected.push(d * sc[i >> 4] * q[i] - dmin * mn[i >> 4]);
  }
  return { block: blk, expected };
}

const ints = (r: () => number, n: number, lo: number, hi: number): number[] => Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));

describe('ggml dequantization of hand-built blocks', () => {
  test('Q4_K literal block', () => {
    const blk = new Uint8Array(144);
    halfBytes(blk, 0, 1); halfBytes(blk, 2, 1);
    // sub-block 0: scale 3, min 2; sub-block 5: scale 45 (0b101101), min 33 (0b100001)
    blk.set([3, 0x80, 0, 0, 2, 0x80, 0, 0, 0, 0x1d, 0, 0], 4);
    blk[16] = 0x05; // element 0 (sub-block 0, low nibble) = 5
    blk[16 + 64] = 0x70; // element 160 (sub-block 5, high nibble of the third 32-byte group) = 7
    const y = dequantize(GgmlType.Q4_K, blk, 256);
    assert.equal(y[0], 3 * 5 - 2);
    assert.equal(y[1], -2);
    assert.equal(y[32], 0);
    assert.equal(y[160], 45 * 7 - 33);
    assert.equal(y[161], -33);
    assert.equal(y[128], 0); // sub-block 4 reads the low nibble of the same byte
  });

  test('Q6_K literal block', () => {
    const blk = new Uint8Array(210);
    halfBytes(blk, 208, 0.5);
    blk[192] = 0xfd; // scale 0 = -3
    blk[192 + 10] = 7; // scale 10 = 7
    blk[0] = 0x0a; blk[128] = 0b10; // element 0: q = 10 | 2<<4 = 42 -> 10
    blk[101] = 0x03; blk[165] = 0b0100; // element 165: q = 3 | 1<<4 = 19 -> -13
    const y = dequantize(GgmlType.Q6_K, blk, 256);
    assert.equal(y[0], 0.5 * -3 * 10);
    assert.equal(y[1], 0.5 * -3 * -32);
    assert.equal(y[165], 0.5 * 7 * -13);
  });

  test('Q4_K, Q5_K, Q6_K, Q3_K, Q2_K: random blocks match the element-wise formula', () => {
    const r = rng(42);
    for (let rep = 0; rep < 20; rep++) {
      const q4 = packQ4K(0.5, 0.25, ints(r, 8, 0, 63), ints(r, 8, 0, 63), ints(r, 256, 0, 15));
      assert.deepEqual([...dequantize(GgmlType.Q4_K, q4.block, 256)], q4.expected);
      const q5 = packQ5K(0.25, 0.125, ints(r, 8, 0, 63), ints(r, 8, 0, 63), ints(r, 256, 0, 31));
      assert.deepEqual([...dequantize(GgmlType.Q5_K, q5.block, 256)], q5.expected);
      const q6 = packQ6K(0.125, ints(r, 16, -128, 127), ints(r, 256, 0, 63));
      assert.deepEqual([...dequantize(GgmlType.Q6_K, q6.block, 256)], q6.expected);
      const q3 = packQ3K(2, ints(r, 16, 0, 63), ints(r, 256, -4, 3));
      assert.deepEqual([...dequantize(GgmlType.Q3_K, q3.block, 256)], q3.expected);
      const q2 = packQ2K(1.5, 0.5, ints(r, 16, 0, 15), ints(r, 16, 0, 15), ints(r, 256, 0, 3));
      assert.deepEqual([...dequantize(GgmlType.Q2_K, q2.block, 256)], q2.expected);
    }
  });

  test('32-element block types', () => {
    const q40 = new Uint8Array(18); halfBytes(q40, 0, 2); q40[2] = 0x1f;
    const y40 = dequantize(GgmlType.Q4_0, q40, 32);
    assert.equal(y40[0], (15 - 8) * 2); assert.equal(y40[16], (1 - 8) * 2); assert.equal(y40[1], -16);

    const q41 = new Uint8Array(20); halfBytes(q41, 0, 1.5); halfBytes(q41, 2, 2); q41[4] = 0x3a;
    const y41 = dequantize(GgmlType.Q4_1, q41, 32);
    assert.equal(y41[0], 10 * 1.5 + 2); assert.equal(y41[16], 3 * 1.5 + 2); assert.equal(y41[5], 2);

    const q50 = new Uint8Array(22); halfBytes(q50, 0, 1);
    new DataView(q50.buffer).setUint32(2, (1 << 0) | (1 << 16) | (1 << 17), true);
    q50[6 + 1] = 0xf3;
    const y50 = dequantize(GgmlType.Q5_0, q50, 32);
    assert.equal(y50[0], 0); assert.equal(y50[16], 0); assert.equal(y50[1], 3 - 16); assert.equal(y50[17], 15); assert.equal(y50[2], -16);

    const q51 = new Uint8Array(24); halfBytes(q51, 0, 0.5); halfBytes(q51, 2, -1);
    new DataView(q51.buffer).setUint32(4, 1 << 31, true);
    q51[8 + 15] = 0xe0;
    const y51 = dequantize(GgmlType.Q5_1, q51, 32);
    assert.equal(y51[31], (14 + 16) * 0.5 - 1); assert.equal(y51[15], -1);

    const q80 = new Uint8Array(34); halfBytes(q80, 0, 0.25); q80[2] = 0x80; q80[3] = 0x7f; q80[4] = 0xff;
    const y80 = dequantize(GgmlType.Q8_0, q80, 32);
    assert.deepEqual([...y80.subarray(0, 4)], [-32, 31.75, -0.25, 0]);

    // Unaligned input: the same block one byte in.
    const shifted = new Uint8Array(35); shifted.set(q80, 1);
    assert.deepEqual(dequantize(GgmlType.Q8_0, shifted.subarray(1), 32), y80);
  });

  test('reference quantizers', () => {
    const ints127 = Float32Array.from({ length: 32 }, (_, i) => i * 8 - 127);
    ints127[31] = 127;
    assert.deepEqual(dequantize(GgmlType.Q8_0, quantizeQ8_0(ints127), 32), ints127); // d = 1 exactly
    const r = rng(7);
    const x = Float32Array.from({ length: 32 * 40 }, () => (r() - 0.5) * 10 * (r() < 0.1 ? 20 : 1));
    const y8 = dequantize(GgmlType.Q8_0, quantizeQ8_0(x), x.length);
    const y4 = dequantize(GgmlType.Q4_0, quantizeQ4_0(x), x.length);
    for (let b = 0; b < 40; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
      for (let j = 0; j < 32; j++) {
        const i = b * 32 + j;
        assert.ok(Math.abs(y8[i] - x[i]) <= (amax / 127) * 0.5 + amax * 2 ** -10, `q8_0 ${i}`);
        assert.ok(Math.abs(y4[i] - x[i]) <= (amax / 8) * 1.01, `q4_0 ${i}`);
      }
    }
    // All-zero blocks quantize to a zero scale and dequantize to zero (-0 for Q4_0, as in ggml: 0 / -8).
    assert.ok(dequantize(GgmlType.Q4_0, quantizeQ4_0(new Float32Array(32)), 32).every((v) => v === 0));
    assert.ok(dequantize(GgmlType.Q8_0, quantizeQ8_0(new Float32Array(32)), 32).every((v) => v === 0));
  });
});

// ---------------------------------------------------------------------------------------------

const ALL_META: GgufMetaEntry[] = [
  { key: 'general.architecture', type: 'string', value: 'llama' },
  { key: 'general.name', type: 'string', value: 'tëst ☃' },
  { key: 't.u8', type: 'u8', value: 255 },
  { key: 't.i8', type: 'i8', value: -128 },
  { key: 't.u16', type: 'u16', value: 65535 },
  { key: 't.i16', type: 'i16', value: -32768 },
  { key: 't.u32', type: 'u32', value: 4294967295 },
  { key: 't.i32', type: 'i32', value: -2147483648 },
  { key: 't.u64.small', type: 'u64', value: 12345 },
  { key: 't.u64.big', type: 'u64', value: 18446744073709551615n },
  { key: 't.i64', type: 'i64', value: -9007199254740991 },
  { key: 't.i64.big', type: 'i64', value: -9223372036854775808n },
  { key: 't.f32', type: 'f32', value: 0.1 },
  { key: 't.f64', type: 'f64', value: 0.1 },
  { key: 't.bool.t', type: 'bool', value: true },
  { key: 't.bool.f', type: 'bool', value: false },
  { key: 't.empty', type: 'string', value: '' },
  { key: 'tokenizer.ggml.tokens', type: 'array', itemType: 'string', value: ['<s>', '</s>', 'hello', '', 'ünï'] },
  { key: 'a.u8', type: 'array', itemType: 'u8', value: [0, 1, 255] },
  { key: 'a.i32', type: 'array', itemType: 'i32', value: [-1, 2, -3] },
  { key: 'a.f32', type: 'array', itemType: 'f32', value: [0.5, -1.5] },
  { key: 'a.f64', type: 'array', itemType: 'f64', value: [1e300] },
  { key: 'a.u64', type: 'array', itemType: 'u64', value: [1, 2n ** 63n] },
  { key: 'a.i64', type: 'array', itemType: 'i64', value: [-1] },
  { key: 'a.i16', type: 'array', itemType: 'i16', value: [-2] },
  { key: 'a.u16', type: 'array', itemType: 'u16', value: [2] },
  { key: 'a.i8', type: 'array', itemType: 'i8', value: [-3] },
  { key: 'a.u32', type: 'array', itemType: 'u32', value: [3] },
  { key: 'a.bool', type: 'array', itemType: 'bool', value: [true, false] },
  { key: 'a.empty', type: 'array', itemType: 'i32', value: [] },
];

describe('GGUF write/read', () => {
  test('metadata of every type round-trips', () => {
    const p = fresh();
    writeGguf(p, ALL_META, []);
    const g = GgufFile.open(p);
    try {
      assert.equal(g.version, 3);
      assert.equal(g.alignment, 32);
      assert.equal(g.tensors.size, 0);
      assert.equal(g.metadata.size, ALL_META.length);
      for (const e of ALL_META) {
        const want = e.type === 'f32' ? Math.fround(e.value as number)
          : e.type === 'array' && e.itemType === 'f32' ? e.value.map((v) => Math.fround(v as number))
          : e.type === 'array' && e.itemType === 'u64' ? e.value.map((v) => (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v))
          : e.type === 'u64' && typeof e.value === 'bigint' && e.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(e.value)
          : e.value;
        assert.deepEqual(g.get(e.key), want, e.key);
        const st = g.metadataTypes.get(e.key)!;
        assert.equal(st.type, e.type, e.key);
        if (e.type === 'array' && st.type === 'array') assert.deepEqual(st.itemType, { type: e.itemType });
      }
      assert.equal(g.getNumber('t.u32'), 4294967295);
      assert.equal(g.getNumber('t.u64.small'), 12345);
      assert.equal(typeof g.get('t.u64.big'), 'bigint');
      assert.throws(() => g.getNumber('t.u64.big'), ModelFileError);
      assert.equal(g.getBigInt('t.u64.big'), 18446744073709551615n);
      assert.equal(g.getString('general.architecture'), 'llama');
      assert.equal(g.getBool('t.bool.t'), true);
      assert.deepEqual(g.getArray('tokenizer.ggml.tokens'), ['<s>', '</s>', 'hello', '', 'ünï']);
      assert.equal(g.getString('missing'), undefined);
      assert.throws(() => g.getString('t.u8'), (e: unknown) => e instanceof ModelFileError && /is a u8, expected a string/.test(e.problem));
      assert.throws(() => g.getNumber('general.name'), ModelFileError);
      assert.throws(() => g.getArray('t.f32'), ModelFileError);
      assert.throws(() => g.getBool('a.bool'), ModelFileError);
    } finally {
      g.close();
    }
  });

  test('tensors F32/F16/BF16/Q8_0/Q4_0 round-trip; dims are reversed shape', () => {
    const r = rng(3);
    const mk = (n: number) => Float32Array.from({ length: n }, () => (r() - 0.5) * 4);
    const f32 = mk(3 * 5), f16 = mk(2 * 3 * 4), bf16 = mk(7), q8 = mk(4 * 64), q4 = mk(2 * 96), scalar = new Float32Array([42]);
    const p = fresh();
    writeGguf(p, [{ key: 'general.architecture', type: 'string', value: 'x' }], [
      { name: 'f32', shape: [3, 5], data: f32, type: GgmlType.F32 },
      { name: 'f16', shape: [2, 3, 4], data: f16, type: GgmlType.F16 },
      { name: 'bf16', shape: [7], data: bf16, type: GgmlType.BF16 },
      { name: 'q8', shape: [4, 64], data: q8, type: GgmlType.Q8_0 },
      { name: 'q4', shape: [2, 96], data: q4, type: GgmlType.Q4_0 },
      { name: 'scalar', shape: [], data: scalar, type: GgmlType.F32 },
    ]);
    const g = GgufFile.open(p);
    try {
      const t = g.tensors.get('f16')!;
      assert.deepEqual(t.dims, [4, 3, 2]);
      assert.deepEqual(t.shape, [2, 3, 4]);
      assert.equal(t.type, GgmlType.F16);
      assert.equal(t.byteLength, 48);
      assert.equal(g.tensors.get('q8')!.byteLength, 8 * 34);
      assert.equal(g.tensors.get('q4')!.byteLength, 6 * 18);
      assert.deepEqual(g.readF32('f32'), f32);
      assert.deepEqual(g.readF32('f16'), f16.map((v) => f16ToF32(f32ToF16(v))));
      assert.deepEqual(g.readF32('bf16'), bf16.map((v) => bf16ToF32(f32ToBf16(v))));
      assert.deepEqual(g.readF32('scalar'), scalar);
      assert.deepEqual(g.tensors.get('scalar')!.dims, []);
      for (const [name, data, bound] of [['q8', q8, (a: number) => (a / 127) * 0.5 + a * 2 ** -10], ['q4', q4, (a: number) => (a / 8) * 1.01]] as const) {
        const y = g.readF32(name);
        assert.equal(y.length, data.length);
        for (let b = 0; b < data.length / 32; b++) {
          let amax = 0;
          for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(data[b * 32 + j]));
          for (let j = 0; j < 32; j++) assert.ok(Math.abs(y[b * 32 + j] - data[b * 32 + j]) <= bound(amax), `${name}[${b * 32 + j}]`);
        }
      }
      assert.deepEqual(g.readRaw('q8'), Buffer.from(quantizeQ8_0(q8)));
      assert.throws(() => g.readF32('nope'), ModelFileError);
      for (const ti of g.tensors.values()) assert.equal(ti.offset % 32, 0);
    } finally {
      g.close();
    }
  });

  test('alignment is honoured and recorded', () => {
    for (const alignment of [8, 64, 256]) {
      const p = fresh();
      writeGguf(p, [{ key: 'a', type: 'u8', value: 1 }], [
        { name: 'x', shape: [3], data: new Float32Array([1, 2, 3]), type: GgmlType.F32 },
        { name: 'y', shape: [5], data: new Float32Array([1, 2, 3, 4, 5]), type: GgmlType.F16 },
        { name: 'z', shape: [32], data: new Float32Array(32).fill(1), type: GgmlType.Q8_0 },
      ], { alignment });
      const g = GgufFile.open(p);
      assert.equal(g.alignment, alignment);
      assert.equal(g.get('general.alignment'), alignment);
      assert.equal(g.dataOffset % alignment, 0);
      for (const t of g.tensors.values()) assert.equal(t.offset % alignment, 0, `${t.name} @ ${t.offset}`);
      assert.equal(readFileSync(p).length % alignment, 0); // padded after the last tensor too
      assert.deepEqual([...g.readF32('y')], [1, 2, 3, 4, 5]);
      g.close();
    }
    // general.alignment given in the metadata works too; a conflicting option is refused.
    const p = fresh();
    writeGguf(p, [{ key: 'general.alignment', type: 'u32', value: 128 }], [{ name: 'x', shape: [1], data: new Float32Array([1]), type: GgmlType.F32 }]);
    const g = GgufFile.open(p);
    assert.equal(g.tensors.get('x')!.offset % 128, 0);
    g.close();
    assert.throws(() => writeGguf(fresh(), [{ key: 'general.alignment', type: 'u32', value: 128 }], [], { alignment: 64 }), InvalidInputError);
    assert.throws(() => writeGguf(fresh(), [], [], { alignment: 48 }), InvalidInputError);
  });

  test('hand-built v2 and v3 files with K-quant tensors', () => {
    const r = rng(11);
    const q4 = [packQ4K(0.5, 0.25, ints(r, 8, 0, 63), ints(r, 8, 0, 63), ints(r, 256, 0, 15)), packQ4K(1, 2, ints(r, 8, 0, 63), ints(r, 8, 0, 63), ints(r, 256, 0, 15))];
    const q6 = packQ6K(0.25, ints(r, 16, -128, 127), ints(r, 256, 0, 63));
    for (const version of [2, 3]) {
      const p = fresh();
      writeFileSync(p, buildGguf({
        version,
        alignment: 64,
        kv: [kvStr('general.architecture', 'llama'), kvU32('general.alignment', 64)],
        tensors: [
          { name: 'blk.0.q4k', dims: [256, 2], type: GgmlType.Q4_K, data: Buffer.concat([q4[0].block, q4[1].block]) },
          { name: 'blk.0.q6k', dims: [256, 1], type: GgmlType.Q6_K, data: q6.block },
        ],
      }));
      const g = GgufFile.open(p);
      assert.equal(g.version, version);
      assert.equal(g.alignment, 64);
      assert.deepEqual(g.tensors.get('blk.0.q4k')!.shape, [2, 256]);
      assert.deepEqual([...g.readF32('blk.0.q4k')], [...q4[0].expected, ...q4[1].expected]);
      assert.deepEqual([...g.readF32('blk.0.q6k')], q6.expected);
      g.close();
    }
  });

  test('validation errors', () => {
    const q8 = new Uint8Array(34);
    const good = { kv: [kvStr('general.architecture', 'llama')], tensors: [{ name: 't', dims: [32], type: GgmlType.Q8_0, data: q8 }] };
    const goodBytes = buildGguf(good);
    const withVersion = (v: number) => { const b = Buffer.from(goodBytes); b.writeUInt32LE(v, 4); return b; };
    const cases: [string, Buffer, RegExp][] = [
      ['empty', Buffer.alloc(0), /too short/],
      ['magic', Buffer.from('GGML\x03\0\0\0' + '\0'.repeat(16), 'latin1'), /bad magic/],
      ['v1', withVersion(1), /unsupported GGUF version 1/],
      ['v4', withVersion(4), /unsupported GGUF version 4/],
      ['big-endian', withVersion(0x03000000), /big-endian/],
      ['tensor count', buildGguf({ ...good, tensorCount: 2 ** 40 }), /tensor count .* impossible/],
      ['kv count', buildGguf({ ...good, kvCount: 2 ** 50 }), /metadata count .* impossible/],
      ['string past EOF', buildGguf({ kv: [(b) => { b.str('k').u32(8).u64(1000).raw(Buffer.from('abc')); }] }), /length of metadata "k" 1000 is impossible/],
      ['key past EOF', buildGguf({ kv: [(b) => { b.u64(2n ** 62n); }] }), /impossible/],
      ['unknown value type', buildGguf({ kv: [(b) => { b.str('k').u32(13).u32(0); }] }), /unknown value type 13/],
      ['unknown item type', buildGguf({ kv: [(b) => { b.str('k').u32(9).u32(77).u64(0); }] }), /unknown array item type 77/],
      ['array count', buildGguf({ kv: [(b) => { b.str('k').u32(9).u32(8).u64(2n ** 40n); }] }), /item count .* impossible/],
      ['bad bool', buildGguf({ kv: [(b) => { b.str('k').u32(7).raw(Buffer.from([7])); }] }), /bool/],
      ['duplicate key', buildGguf({ kv: [kvU32('k', 1), kvU32('k', 2)] }), /"k" appears twice/],
      ['alignment type', buildGguf({ kv: [kvStr('general.alignment', '32')] }), /general.alignment must be a uint32/],
      ['alignment value', buildGguf({ kv: [kvU32('general.alignment', 24)] }), /not a power of two/],
      ['unknown tensor type', buildGguf({ tensors: [{ name: 't', dims: [4], type: 5, data: new Uint8Array(16) }] }), /unknown type 5/],
      ['too many dims', buildGguf({ tensors: [{ name: 't', dims: [1, 1, 1, 1, 1], type: 0, data: new Uint8Array(4) }] }), /5 dimensions/],
      ['block size', buildGguf({ tensors: [{ name: 't', dims: [33], type: GgmlType.Q8_0, data: new Uint8Array(68) }] }), /not a multiple of the Q8_0 block size 32/],
      ['unaligned offset', buildGguf({ tensors: [{ name: 't', dims: [4], type: 0, data: new Uint8Array(16), offset: 4 }] }), /not a multiple of the alignment 32/],
      ['offset outside', buildGguf({ tensors: [{ name: 't', dims: [4], type: 0, data: new Uint8Array(16), offset: 2 ** 40 }] }), /outside the file/],
      ['truncated data', goodBytes.subarray(0, goodBytes.length - 40), /truncated/],
      ['duplicate tensor', buildGguf({ tensors: [{ name: 't', dims: [1], type: 0, data: new Uint8Array(4) }, { name: 't', dims: [1], type: 0, data: new Uint8Array(4) }] }), /tensor "t" appears twice/],
      ['huge dims', buildGguf({ tensors: [{ name: 't', dims: [2 ** 40, 2 ** 40], type: 0, data: new Uint8Array(4) }] }), /too many elements/],
    ];
    for (const [label, bytes, re] of cases) {
      const p = fresh();
      writeFileSync(p, bytes);
      assert.throws(() => GgufFile.open(p), (err: unknown) => {
        assert.ok(err instanceof ModelFileError, `${label}: ${String(err)}`);
        assert.equal(err.file, p);
        assert.match(err.problem, re, label);
        return true;
      });
    }
    // The good file itself opens, and a type without a dequantizer opens but does not read.
    const p = fresh();
    writeFileSync(p, goodBytes);
    GgufFile.open(p).close();
    const iq = fresh();
    writeFileSync(iq, buildGguf({ tensors: [{ name: 'iq', dims: [256], type: GgmlType.IQ4_XS, data: new Uint8Array(136) }] }));
    const g = GgufFile.open(iq);
    assert.throws(() => g.readF32('iq'), /IQ4_XS, which steerer cannot dequantize/);
    g.close();
  });

  test('writer input errors; a failed write leaves nothing behind', () => {
    const p = fresh();
    const d = join(p, '..');
    assert.throws(() => writeGguf(p, [], [{ name: 'x', shape: [2, 33], data: new Float32Array(66), type: GgmlType.Q8_0 }]), InvalidInputError);
    assert.throws(() => writeGguf(p, [], [{ name: 'x', shape: [2], data: new Float32Array(2), type: GgmlType.Q4_K }]), InvalidInputError);
    assert.throws(() => writeGguf(p, [{ key: 'k', type: 'u8', value: 256 }], []), InvalidInputError);
    assert.throws(() => writeGguf(p, [{ key: 'k', type: 'u8', value: 1 }, { key: 'k', type: 'u8', value: 1 }], []), InvalidInputError);
    assert.throws(() => writeGguf(p, [{ key: 'k', type: 'string', value: 3 }], []), InvalidInputError);
    assert.throws(
      () => writeGguf(p, [], [
        { name: 'ok', shape: [4], data: new Float32Array(4), type: GgmlType.F32 },
        { name: 'bad', shape: [64], data: new Float32Array(32), type: GgmlType.Q8_0 },
      ]),
      (e: unknown) => e instanceof InvalidInputError && /"bad" has 32 values/.test(e.message),
    );
    assert.deepEqual(readdirSync(d), []);
  });
});
