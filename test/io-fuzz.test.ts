/**
 * Corrupted-file fuzzing for the safetensors and GGUF readers: truncations and random byte
 * changes in the header region. Every case must either load (and then read every tensor)
 * or fail with ModelFileError; any other error type is a reader bug.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelFileError } from '../src/io/errors.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { writeSafetensors } from '../src/io/safetensors-write.js';
import { GgmlType, GgufFile } from '../src/io/gguf.js';
import { writeGguf } from '../src/io/gguf-write.js';
import { rng } from './helpers/prng.js';

let dir: string;
before(() => { dir = mkdtempSync(join(tmpdir(), 'steerer-fuzz-')); });
after(() => { rmSync(dir, { recursive: true, force: true }); });


const values = (n: number, seed: number): Float32Array => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * 6);
};

interface Outcome { loaded: number; rejected: number }

/** Open and fully read one candidate file; returns whether it loaded. Non-ModelFileErrors fail the test. */
function probe(path: string, bytes: Uint8Array, open: (p: string) => { readAll(): void; close(): void }, label: string): boolean {
  writeFileSync(path, bytes);
  try {
    const f = open(path);
    try {
      f.readAll();
    } finally {
      f.close();
    }
    return true;
  } catch (err) {
    if (!(err instanceof ModelFileError)) {
      assert.fail(`${label}: expected ModelFileError, got ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
    }
    assert.ok(err.problem.length > 0 && !err.problem.includes('\n'), `${label}: problem should be one line`);
    return false;
  }
}

function fuzz(name: string, original: Buffer, headerEnd: number, open: (p: string) => { readAll(): void; close(): void }, seed: number): { trunc: Outcome; flip: Outcome; garbage: Outcome } {
  const path = join(dir, name);
  const result = { trunc: { loaded: 0, rejected: 0 }, flip: { loaded: 0, rejected: 0 }, garbage: { loaded: 0, rejected: 0 } };
  // The untouched file must load.
  assert.ok(probe(path, original, open, `${name} original`));

  // (a) truncation: every length through the header, then a spread through the data.
  const lengths = new Set<number>();
  for (let n = 0; n <= Math.min(headerEnd + 16, original.length - 1); n++) lengths.add(n);
  for (let k = 0; k < 60; k++) lengths.add(Math.floor(headerEnd + ((original.length - headerEnd) * k) / 60));
  for (const n of lengths) {
    if (n >= original.length) continue;
    const ok = probe(path, original.subarray(0, n), open, `${name} truncated to ${n}`);
    // Only a cut inside trailing padding can leave a readable file.
    if (ok) result.trunc.loaded++; else result.trunc.rejected++;
  }

  // (b) random byte changes in the header region.
  const r = rng(seed);
  for (let c = 0; c < 400; c++) {
    const bytes = Buffer.from(original);
    const flips = 1 + Math.floor(r() * 4);
    const where: string[] = [];
    for (let f = 0; f < flips; f++) {
      const at = Math.floor(r() * headerEnd);
      // Mix single-bit flips (subtle) and whole random bytes (gross).
      bytes[at] = r() < 0.5 ? bytes[at] ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256);
      where.push(String(at));
    }
    if (probe(path, bytes, open, `${name} case ${c} (bytes ${where.join(',')})`)) result.flip.loaded++; else result.flip.rejected++;
  }

  // (c) garbage appended after a valid prefix of the header.
  for (let c = 0; c < 100; c++) {
    const keep = Math.floor(r() * headerEnd);
    const extra = Buffer.from(Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256)));
    const bytes = Buffer.concat([original.subarray(0, keep), extra]);
    if (probe(path, bytes, open, `${name} garbage ${c}`)) result.garbage.loaded++; else result.garbage.rejected++;
  }
  return result;
}

describe('corrupted files never escape as non-ModelFileErrors', { timeout: 60_000 }, () => {
  test('safetensors', () => {
    const p = join(dir, 'valid.safetensors');
    writeSafetensors(p, {
      'model.embed': { shape: [8, 4], data: values(32, 1) },
      'model.norm': { shape: [4], data: values(4, 2), dtype: 'F16' },
      'lm_head': { shape: [3, 5], data: values(15, 3), dtype: 'BF16' },
      'empty': { shape: [0], data: new Float32Array(0) },
    }, { format: 'pt', note: 'fuzz' });
    const original = readFileSync(p);
    const headerEnd = 8 + Number(original.readBigUInt64LE(0));
    const open = (path: string) => {
      const f = SafetensorsFile.open(path);
      return { readAll: () => { for (const name of f.entries.keys()) { f.readF32(name); f.readRaw(name); } }, close: () => f.close() };
    };
    const res = fuzz('st.safetensors', original, headerEnd, open, 1234);
    assert.ok(res.trunc.rejected > 100 && res.flip.rejected > 100, JSON.stringify(res));
  });

  test('GGUF', () => {
    const p = join(dir, 'valid.gguf');
    writeGguf(p, [
      { key: 'general.architecture', type: 'string', value: 'llama' },
      { key: 'llama.block_count', type: 'u32', value: 2 },
      { key: 'llama.rope.freq_base', type: 'f32', value: 10000 },
      { key: 'general.size', type: 'u64', value: 123456789n },
      { key: 'tokenizer.ggml.tokens', type: 'array', itemType: 'string', value: ['<s>', '</s>', 'a', 'b', 'hello'] },
      { key: 'tokenizer.ggml.scores', type: 'array', itemType: 'f32', value: [0, 0, -1, -2, -3] },
      { key: 'tokenizer.ggml.token_type', type: 'array', itemType: 'i32', value: [3, 3, 1, 1, 1] },
      { key: 'x.flag', type: 'bool', value: true },
    ], [
      { name: 'token_embd.weight', shape: [5, 32], data: values(160, 4), type: GgmlType.Q8_0 },
      { name: 'blk.0.attn_q.weight', shape: [2, 64], data: values(128, 5), type: GgmlType.Q4_0 },
      { name: 'output_norm.weight', shape: [7], data: values(7, 6), type: GgmlType.F32 },
      { name: 'blk.0.ffn.weight', shape: [3, 3], data: values(9, 7), type: GgmlType.F16 },
      { name: 'blk.0.bf.weight', shape: [2], data: values(2, 8), type: GgmlType.BF16 },
    ]);
    const original = readFileSync(p);
    const headerEnd = GgufFile.open(p).dataOffset;
    const open = (path: string) => {
      const g = GgufFile.open(path);
      return {
        readAll: () => {
          for (const name of g.tensors.keys()) g.readF32(name);
          for (const key of g.metadata.keys()) {
            // Typed getters either return or throw ModelFileError.
            for (const get of [() => g.getNumber(key), () => g.getString(key), () => g.getArray(key), () => g.getBool(key)]) {
              try { get(); } catch (err) { if (!(err instanceof ModelFileError)) throw err; }
            }
          }
        },
        close: () => g.close(),
      };
    };
    const res = fuzz('m.gguf', original, headerEnd, open, 5678);
    assert.ok(res.trunc.rejected > 100 && res.flip.rejected > 100, JSON.stringify(res));
  });
});
