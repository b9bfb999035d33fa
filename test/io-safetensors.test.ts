import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelFileError, InvalidInputError } from '../src/io/errors.js';
import { bf16ToF32, decodeToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../src/io/dtype.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { SafetensorsCollection } from '../src/io/safetensors-collection.js';
import { writeSafetensors } from '../src/io/safetensors-write.js';

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'steerer-st-')); });
after(() => { rmSync(dir, { recursive: true, force: true }); });

let counter = 0;
const fresh = (name = 'x.safetensors'): string => {
  const d = join(dir, `case${counter++}`);
  mkdirSync(d);
  return join(d, name);
};

/** Build a safetensors file by hand: header JSON (unpadded unless asked) + raw data. */
function handBuilt(header: unknown, data: Uint8Array, opts: { pad?: boolean } = {}): Buffer {
  let json = JSON.stringify(header);
  if (opts.pad) while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const h = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

const rand = (n: number, seed: number): Float32Array => {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 8;
  }
  return out;
};

describe('dtype conversions', () => {
  test('f16 encode: exact values, round-to-nearest-even, overflow, subnormals', () => {
    assert.equal(f32ToF16(1), 0x3c00);
    assert.equal(f32ToF16(-2), 0xc000);
    assert.equal(f32ToF16(0), 0);
    assert.equal(f32ToF16(-0), 0x8000);
    assert.equal(f32ToF16(65504), 0x7bff);
    assert.equal(f32ToF16(65519), 0x7bff); // below the halfway point to 65536
    assert.equal(f32ToF16(65520), 0x7c00); // halfway rounds to even = overflow to inf
    assert.equal(f32ToF16(Infinity), 0x7c00);
    assert.equal(f32ToF16(-Infinity), 0xfc00);
    assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
    assert.equal(f32ToF16(2 ** -24), 0x0001); // smallest subnormal
    assert.equal(f32ToF16(2 ** -25), 0); // tie -> even (0)
    assert.equal(f32ToF16(2 ** -25 * 1.0001), 1);
    assert.equal(f32ToF16(3 * 2 ** -25), 2); // tie between 1 and 2 -> even
    assert.equal(f32ToF16(2 ** -14), 0x0400); // smallest normal
    assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie -> even mantissa 0
    assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // tie -> even mantissa 2
    assert.equal(f16ToF32(0x3555), 0.333251953125);
    assert.equal(f16ToF32(0x0001), 2 ** -24);
    // Every finite half survives a round trip.
    for (let h = 0; h < 0x10000; h++) {
      const v = f16ToF32(h);
      if (Number.isNaN(v)) continue;
      assert.equal(f32ToF16(v), h, `half 0x${h.toString(16)}`);
    }
  });

  test('bf16 encode: round-to-nearest-even and NaN', () => {
    assert.equal(f32ToBf16(1), 0x3f80);
    assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie -> even
    assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82); // tie -> even
    assert.equal(f32ToBf16(1 + 2 ** -8 + 2 ** -20), 0x3f81);
    assert.equal(f32ToBf16(-3.5), 0xc060);
    assert.equal(bf16ToF32(0xc060), -3.5);
    assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(NaN))));
    assert.equal(f32ToBf16(Infinity), 0x7f80);
  });

  test('bulk decode from unaligned bytes', () => {
    const b = Buffer.alloc(1 + 8);
    b.writeUInt16LE(0x3c00, 1); b.writeUInt16LE(0xc000, 3); b.writeUInt16LE(0x3555, 5); b.writeUInt16LE(0x7c00, 7);
    assert.deepEqual([...decodeToF32(b.subarray(1), 'f16')], [1, -2, Math.fround(0.333251953125), Infinity]);
    const c = Buffer.alloc(3 + 8);
    c.writeFloatLE(1.5, 3); c.writeFloatLE(-7.25, 7);
    assert.deepEqual([...decodeToF32(c.subarray(3), 'f32')], [1.5, -7.25]);
    const d = Buffer.alloc(5 + 16);
    d.writeBigInt64LE(-5n, 5); d.writeDoubleLE(0.1, 13);
    assert.deepEqual([...decodeToF32(d.subarray(5, 13), 'i64')], [-5]);
    assert.deepEqual([...decodeToF32(d.subarray(13), 'f64')], [Math.fround(0.1)]);
  });
});

describe('safetensors write/read', () => {
  test('F32 exact, F16/BF16 equal to rounded values, metadata round trip', () => {
    const p = fresh();
    const a = rand(6 * 7, 1);
    const b = rand(5 * 3, 2);
    const c = rand(33, 3);
    a[0] = 1e-30; a[1] = -0; a[2] = 3.4e38;
    b[0] = 70000; b[1] = 1e-7; // overflow to inf, subnormal
    writeSafetensors(p, { a: { shape: [6, 7], data: a }, b: { shape: [5, 3], data: b, dtype: 'F16' }, c: { shape: [33], data: c, dtype: 'BF16' } }, { format: 'pt', note: 'ünïcode' });
    const f = SafetensorsFile.open(p);
    try {
      assert.deepEqual(f.metadata, { format: 'pt', note: 'ünïcode' });
      assert.deepEqual([...f.entries.keys()].sort(), ['a', 'b', 'c']);
      assert.deepEqual(f.entries.get('a')!.shape, [6, 7]);
      assert.equal(f.entries.get('b')!.dtype, 'F16');
      assert.equal(f.entries.get('c')!.dtype, 'BF16');
      assert.ok(f.has('a') && !f.has('zz'));
      assert.deepEqual(f.readF32('a'), a);
      assert.ok(Object.is(f.readF32('a')[1], -0));
      const rb = f.readF32('b');
      assert.deepEqual(rb, Float32Array.from(b, (v) => f16ToF32(f32ToF16(v))));
      assert.equal(rb[0], Infinity);
      const rc = f.readF32('c');
      assert.deepEqual(rc, Float32Array.from(c, (v) => bf16ToF32(f32ToBf16(v))));
      assert.equal(f.readRaw('c').length, 66);
      assert.throws(() => f.readF32('nope'), ModelFileError);
    } finally {
      f.close();
    }
  });

  test('file layout: u64 length, space padding to 8, data 8-aligned, offsets per the spec', () => {
    const p = fresh();
    writeSafetensors(p, new Map([['w', { shape: [3], data: new Float32Array([1, 2, 3]) }]]), { k: 'v' });
    const bytes = readFileSync(p);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal((8 + n) % 8, 0);
    const text = bytes.subarray(8, 8 + n).toString('utf8');
    assert.match(text, /^\{.*\} *$/);
    const header = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(header, { __metadata__: { k: 'v' }, w: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } });
    assert.equal(bytes.length, 8 + n + 12);
    assert.equal(bytes.readFloatLE(8 + n + 4), 2);
  });

  test('reads a hand-built file with every dtype, unaligned data and a scalar', () => {
    const data = Buffer.alloc(64);
    let o = 0;
    const header: Record<string, unknown> = { __metadata__: { source: 'hand' } };
    const put = (name: string, dtype: string, shape: number[], write: (at: number) => number) => {
      const n = write(o);
      header[name] = { dtype, shape, data_offsets: [o, o + n] };
      o += n;
    };
    put('u8', 'U8', [3], (at) => { data[at] = 0; data[at + 1] = 7; data[at + 2] = 255; return 3; });
    put('f16', 'F16', [2], (at) => { data.writeUInt16LE(0x3c00, at); data.writeUInt16LE(0xb800, at + 2); return 4; }); // offset 3: unaligned
    put('bf16', 'BF16', [1], (at) => { data.writeUInt16LE(0x4049, at); return 2; });
    put('f32', 'F32', [1, 2], (at) => { data.writeFloatLE(0.5, at); data.writeFloatLE(-1.25, at + 4); return 8; }); // offset 9: unaligned
    put('f64', 'F64', [], (at) => { data.writeDoubleLE(2.5, at); return 8; });
    put('i64', 'I64', [2], (at) => { data.writeBigInt64LE(-3n, at); data.writeBigInt64LE(1n << 40n, at + 8); return 16; });
    put('i32', 'I32', [1], (at) => { data.writeInt32LE(-100000, at); return 4; });
    put('i16', 'I16', [1], (at) => { data.writeInt16LE(-300, at); return 2; });
    put('i8', 'I8', [2], (at) => { data.writeInt8(-128, at); data.writeInt8(5, at + 1); return 2; });
    put('bool', 'BOOL', [3], (at) => { data[at] = 1; data[at + 1] = 0; data[at + 2] = 1; return 3; });
    put('empty', 'F32', [0, 4], () => 0);
    const p = fresh();
    writeFileSync(p, handBuilt(header, data.subarray(0, o)));
    const f = SafetensorsFile.open(p);
    try {
      assert.deepEqual(f.metadata, { source: 'hand' });
      assert.deepEqual([...f.readF32('u8')], [0, 7, 255]);
      assert.deepEqual([...f.readF32('f16')], [1, -0.5]);
      assert.deepEqual([...f.readF32('bf16')], [3.140625]);
      assert.deepEqual([...f.readF32('f32')], [0.5, -1.25]);
      assert.deepEqual([...f.readF32('f64')], [2.5]);
      assert.deepEqual(f.entries.get('f64')!.shape, []);
      assert.deepEqual([...f.readF32('i64')], [-3, 2 ** 40]);
      assert.deepEqual([...f.readF32('i32')], [-100000]);
      assert.deepEqual([...f.readF32('i16')], [-300]);
      assert.deepEqual([...f.readF32('i8')], [-128, 5]);
      assert.deepEqual([...f.readF32('bool')], [1, 0, 1]);
      assert.equal(f.readF32('empty').length, 0);
      const hdrLen = Number(readFileSync(p).readBigUInt64LE(0));
      assert.equal(f.entries.get('f32')!.byteOffset, 8 + hdrLen + 9);
    } finally {
      f.close();
    }
  });

  test('validation errors are ModelFileErrors with a clear problem', () => {
    const ok = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const cases: [string, Buffer, RegExp][] = [
      ['short', Buffer.alloc(5), /too short/],
      ['len>file', (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE(100n); return b; })(), /larger than the file/],
      ['len huge', (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1n << 62n); return b; })(), /larger than the file/],
      ['not json', (() => { const h = Buffer.from('{not json'); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(h.length)); return Buffer.concat([l, h]); })(), /not valid JSON/],
      ['array', handBuilt([1, 2], Buffer.alloc(0)), /not a JSON object/],
      ['no dtype', handBuilt({ t: { shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(8)), /no dtype/],
      ['no shape', handBuilt({ t: { dtype: 'F32', data_offsets: [0, 8] } }, Buffer.alloc(8)), /no shape/],
      ['no offsets', handBuilt({ t: { dtype: 'F32', shape: [2] } }, Buffer.alloc(8)), /no data_offsets/],
      ['unknown dtype', handBuilt({ t: { ...ok, dtype: 'F17' } }, Buffer.alloc(8)), /unknown dtype/],
      ['fp8', handBuilt({ t: { ...ok, dtype: 'F8_E4M3', shape: [8] } }, Buffer.alloc(8)), /unsupported dtype F8_E4M3/],
      ['negative dim', handBuilt({ t: { ...ok, shape: [-2] } }, Buffer.alloc(8)), /invalid dimension/],
      ['fraction dim', handBuilt({ t: { ...ok, shape: [1.5] } }, Buffer.alloc(8)), /invalid dimension/],
      ['reversed offsets', handBuilt({ t: { ...ok, data_offsets: [8, 0] } }, Buffer.alloc(8)), /out of order/],
      ['bad size', handBuilt({ t: { ...ok, shape: [3] } }, Buffer.alloc(8)), /needs 12/],
      ['overlap', handBuilt({ t: ok, u: { ...ok, data_offsets: [4, 12] } }, Buffer.alloc(12)), /overlap/],
      ['outside', handBuilt({ t: { ...ok, data_offsets: [8, 16] } }, Buffer.alloc(8)), /truncated/],
      ['truncated', handBuilt({ t: ok, u: { ...ok, data_offsets: [8, 16] } }, Buffer.alloc(12)), /data section is 12 bytes but tensors need 16/],
      ['metadata not strings', handBuilt({ __metadata__: { a: 1 } }, Buffer.alloc(0)), /not a string/],
      ['bad utf8', (() => { const h = Buffer.from([0x7b, 0xff, 0x7d]); const l = Buffer.alloc(8); l.writeBigUInt64LE(3n); return Buffer.concat([l, h]); })(), /UTF-8/],
    ];
    for (const [label, bytes, re] of cases) {
      const p = fresh();
      writeFileSync(p, bytes);
      assert.throws(() => SafetensorsFile.open(p), (err: unknown) => {
        assert.ok(err instanceof ModelFileError, `${label}: ${String(err)}`);
        assert.equal(err.file, p);
        assert.match(err.problem, re, label);
        assert.ok(!err.problem.includes('\n'), label);
        return true;
      });
    }
    assert.throws(() => SafetensorsFile.open(join(dir, 'missing.safetensors')), /file not found/);
  });

  test('a failed write leaves neither the file nor a temp file', () => {
    const p = fresh();
    const d = join(p, '..');
    assert.throws(
      () => writeSafetensors(p, { a: { shape: [2], data: new Float32Array(2) }, b: { shape: [4], data: new Float32Array(3) } }),
      InvalidInputError,
    );
    assert.deepEqual(readdirSync(d), []);
    // Overwriting an existing file fails the same way and keeps the old content.
    writeSafetensors(p, { a: { shape: [1], data: new Float32Array([9]) } });
    assert.throws(() => writeSafetensors(p, { a: { shape: [5], data: new Float32Array(1) } }), InvalidInputError);
    assert.deepEqual(readdirSync(d), ['x.safetensors']);
    const f = SafetensorsFile.open(p);
    assert.deepEqual([...f.readF32('a')], [9]);
    f.close();
  });

  test('I32 tensors round-trip from an Int32Array; dtype and array kind must agree', () => {
    const p = fresh();
    const ids = Int32Array.from([0, -1, 2 ** 31 - 1, -(2 ** 31), 7, 8]);
    writeSafetensors(p, { ids: { shape: [2, 3], data: ids, dtype: 'I32' }, x: { shape: [1], data: new Float32Array([0.5]) } });
    const f = SafetensorsFile.open(p);
    assert.equal(f.entries.get('ids')!.dtype, 'I32');
    assert.deepEqual(f.readI32('ids'), ids);
    assert.deepEqual([...f.readF32('ids')].slice(4), [7, 8]); // by value (2^31 - 1 has no float32)
    assert.throws(() => f.readI32('x'), (e: Error) => e instanceof ModelFileError && /is F32, expected I32/.test(e.message));
    f.close();
    const q = fresh();
    const mismatched = { ids: { shape: [1], data: new Float32Array(1), dtype: 'I32' } } as unknown as Parameters<typeof writeSafetensors>[1];
    assert.throws(() => writeSafetensors(q, mismatched), /I32 needs an Int32Array/);
    assert.throws(() => writeSafetensors(q, { ids: { shape: [1], data: new Int32Array(1) } } as unknown as Parameters<typeof writeSafetensors>[1]), /F32 needs a Float32Array/);
  });
});

describe('SafetensorsCollection', () => {
  const shardDir = (): string => {
    const p = fresh('model-00001-of-00002.safetensors');
    const d = join(p, '..');
    writeSafetensors(p, { 'layer.0.w': { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }, embed: { shape: [3], data: new Float32Array([5, 6, 7]) } }, { format: 'pt' });
    writeSafetensors(join(d, 'model-00002-of-00002.safetensors'), { 'layer.1.w': { shape: [2], data: new Float32Array([8, 9]), dtype: 'BF16' } }, { extra: 'x' });
    const weightMap = { 'layer.0.w': 'model-00001-of-00002.safetensors', embed: 'model-00001-of-00002.safetensors', 'layer.1.w': 'model-00002-of-00002.safetensors' };
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 36 }, weight_map: weightMap }));
    return d;
  };

  test('sharded directory with index.json', () => {
    const d = shardDir();
    const c = SafetensorsCollection.openDir(d);
    try {
      assert.deepEqual([...c.entries.keys()].sort(), ['embed', 'layer.0.w', 'layer.1.w']);
      assert.deepEqual(c.metadata, { format: 'pt', extra: 'x' });
      assert.deepEqual([...c.readF32('layer.0.w')], [1, 2, 3, 4]);
      assert.deepEqual([...c.readF32('layer.1.w')], [8, 9]);
      assert.ok(c.has('embed') && !c.has('nope'));
      assert.throws(() => c.readF32('nope'), ModelFileError);
    } finally {
      c.close();
    }
  });

  test('sharded directory without an index, and a single file', () => {
    const d = shardDir();
    rmSync(join(d, 'model.safetensors.index.json'));
    const c = SafetensorsCollection.openDir(d);
    assert.equal(c.entries.size, 3);
    c.close();
    rmSync(join(d, 'model-00002-of-00002.safetensors'));
    assert.throws(() => SafetensorsCollection.openDir(d), /shard 2 of 2 .* is missing/);

    const single = fresh('adapter.safetensors');
    writeSafetensors(single, { w: { shape: [1], data: new Float32Array([3]) } });
    const s = SafetensorsCollection.openDir(join(single, '..'));
    assert.deepEqual([...s.readF32('w')], [3]);
    s.close();
  });

  test('directory errors', () => {
    const empty = join(fresh(), '..');
    assert.throws(() => SafetensorsCollection.openDir(empty), (e: unknown) => e instanceof ModelFileError && /no \.safetensors files/.test(e.problem));

    const d1 = shardDir();
    rmSync(join(d1, 'model-00002-of-00002.safetensors'));
    assert.throws(() => SafetensorsCollection.openDir(d1), /model-00002-of-00002\.safetensors named in weight_map is missing/);

    const d2 = shardDir(); // a tensor in two shards
    writeSafetensors(join(d2, 'model-00002-of-00002.safetensors'), { 'layer.1.w': { shape: [1], data: new Float32Array(1) }, embed: { shape: [1], data: new Float32Array(1) } });
    assert.throws(() => SafetensorsCollection.openDir(d2), /"embed" appears in both/);

    const d3 = shardDir(); // index names a tensor the shard lacks
    const idx = JSON.parse(readFileSync(join(d3, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    idx.weight_map.ghost = 'model-00002-of-00002.safetensors';
    writeFileSync(join(d3, 'model.safetensors.index.json'), JSON.stringify(idx));
    assert.throws(() => SafetensorsCollection.openDir(d3), /"ghost" is mapped to .* but is not in it/);

    const d4 = shardDir(); // index escaping the directory
    writeFileSync(join(d4, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../x.safetensors' } }));
    assert.throws(() => SafetensorsCollection.openDir(d4), /outside the model directory/);

    const d5 = shardDir();
    writeFileSync(join(d5, 'model.safetensors.index.json'), '{"weight_map": 3}');
    assert.throws(() => SafetensorsCollection.openDir(d5), ModelFileError);

    assert.throws(() => SafetensorsCollection.openDir(join(dir, 'does-not-exist')), ModelFileError);
  });
});
