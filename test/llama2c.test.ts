import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ModelFileError } from '../src/io/errors.js';
import { loadLlama2c } from '../src/model/loaders/llama2c.js';
import { halfSplitToInterleavedRows, interleavedToHalfSplitRows } from '../src/model/rope-permute.js';
import { readLlama2cTokenizer } from '../src/model/tokenizers/llama2c-tokenizer.js';
import { sharedPath } from '../src/util/shared-path.js';
import { skipUnlessShared } from './helpers/shared.js';

const DIR = sharedPath('models', 'stories260k');
const CKPT = join(DIR, 'stories260K.bin');
const TOK = join(DIR, 'tok512.bin');
const skipModel = skipUnlessShared(CKPT, TOK);

const tmp = mkdtempSync(join(tmpdir(), 'steerer-llama2c-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let tmpCount = 0;
function tmpFile(bytes: Uint8Array): string {
  const p = join(tmp, `f${tmpCount++}.bin`);
  writeFileSync(p, bytes);
  return p;
}

/** Deterministic pseudo-random numbers in [-1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

/** llama2.c's RoPE: rotate pairs (2i, 2i+1) of each head. */
function ropeInterleaved(v: Float64Array, hd: number, pos: number, theta = 10000): Float64Array {
  const out = Float64Array.from(v);
  for (let h = 0; h < v.length / hd; h++) {
    for (let i = 0; i < hd / 2; i++) {
      const a = pos * theta ** (-(2 * i) / hd);
      const x0 = v[h * hd + 2 * i];
      const x1 = v[h * hd + 2 * i + 1];
      out[h * hd + 2 * i] = x0 * Math.cos(a) - x1 * Math.sin(a);
      out[h * hd + 2 * i + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
    }
  }
  return out;
}

/** Hugging Face RoPE: rotate pairs (i, i + hd/2) of each head (rotate_half). */
function ropeHalfSplit(v: Float64Array, hd: number, pos: number, theta = 10000): Float64Array {
  const out = Float64Array.from(v);
  const half = hd / 2;
  for (let h = 0; h < v.length / hd; h++) {
    for (let i = 0; i < half; i++) {
      const a = pos * theta ** (-(2 * i) / hd);
      const x0 = v[h * hd + i];
      const x1 = v[h * hd + half + i];
      out[h * hd + i] = x0 * Math.cos(a) - x1 * Math.sin(a);
      out[h * hd + half + i] = x0 * Math.sin(a) + x1 * Math.cos(a);
    }
  }
  return out;
}

function headDots(q: Float64Array, k: Float64Array, hd: number, kvGroup: number): number[] {
  const dots: number[] = [];
  for (let h = 0; h < q.length / hd; h++) {
    const kh = Math.floor(h / kvGroup);
    let s = 0;
    for (let i = 0; i < hd; i++) s += q[h * hd + i] * k[kh * hd + i];
    dots.push(s);
  }
  return dots;
}

/** y = W x for W stored [out, in]. */
function matvecOutIn(w: Float32Array, out: number, inp: number, x: Float64Array): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = 0;
    for (let i = 0; i < inp; i++) s += w[o * inp + i] * x[i];
    y[o] = s;
  }
  return y;
}

/** y = x W for W stored [in, out] (canonical layout). */
function matvecInOut(w: Float32Array, inp: number, out: number, x: Float64Array): Float64Array {
  const y = new Float64Array(out);
  for (let i = 0; i < inp; i++) for (let o = 0; o < out; o++) y[o] += x[i] * w[i * out + o];
  return y;
}

function assertClose(a: readonly number[], b: readonly number[], tol: number, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(a[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

describe('interleaved → half-split RoPE permutation', () => {
  test('q·k after RoPE is unchanged for random weights and positions', () => {
    const r = rng(7);
    const H = 4;
    const Hkv = 2;
    const hd = 8;
    const D = 12;
    const wq = Float32Array.from({ length: H * hd * D }, r);
    const wk = Float32Array.from({ length: Hkv * hd * D }, r);
    const wqHf = interleavedToHalfSplitRows(wq, H, hd, D);
    const wkHf = interleavedToHalfSplitRows(wk, Hkv, hd, D);
    const x = Float64Array.from({ length: D }, r);
    const y = Float64Array.from({ length: D }, r);
    for (const [pq, pk] of [[0, 0], [5, 2], [17, 3], [100, 99]]) {
      const ref = headDots(
        ropeInterleaved(matvecOutIn(wq, H * hd, D, x), hd, pq),
        ropeInterleaved(matvecOutIn(wk, Hkv * hd, D, y), hd, pk),
        hd,
        H / Hkv,
      );
      const got = headDots(
        ropeHalfSplit(matvecOutIn(wqHf, H * hd, D, x), hd, pq),
        ropeHalfSplit(matvecOutIn(wkHf, Hkv * hd, D, y), hd, pk),
        hd,
        H / Hkv,
      );
      assertClose(got, ref, 1e-9, `positions ${pq},${pk}`);
      if (pq !== pk) {
        // Without the permutation the scores differ: the test can tell the conventions apart.
        const wrong = headDots(
          ropeHalfSplit(matvecOutIn(wq, H * hd, D, x), hd, pq),
          ropeHalfSplit(matvecOutIn(wk, Hkv * hd, D, y), hd, pk),
          hd,
          H / Hkv,
        );
        assert.ok(wrong.some((v, i) => Math.abs(v - ref[i]) > 1e-6));
      }
    }
  });

  test('rows move as documented: j ← 2j, j + hd/2 ← 2j + 1', () => {
    const hd = 4;
    const w = Float32Array.from({ length: 2 * hd }, (_, i) => i); // 2 heads, inDim 1
    assert.deepEqual(Array.from(interleavedToHalfSplitRows(w, 2, hd, 1)), [0, 2, 1, 3, 4, 6, 5, 7]);
    // ... and the GGUF export direction undoes it.
    assert.deepEqual(Array.from(halfSplitToInterleavedRows(interleavedToHalfSplitRows(w, 2, hd, 1), 2, hd, 1)), Array.from(w));
  });
});

/** Parse a legacy llama2.c file's header and float sections, for building test variants. */
function legacySections(buf: Buffer): { header: number[]; body: Float32Array } {
  const header = Array.from({ length: 7 }, (_, i) => buf.readInt32LE(4 * i));
  const body = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length));
  return { header, body };
}

function int32s(values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeInt32LE(v, 4 * i));
  return b;
}

function f32bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe('loadLlama2c (stories260K)', { skip: skipModel }, () => {
  const raw = skipModel ? Buffer.alloc(0) : readFileSync(CKPT);

  test('spec matches the header', () => {
    const m = loadLlama2c(CKPT);
    const s = m.spec;
    assert.equal(s.architecture, 'llama2.c');
    assert.equal(s.family, 'llama');
    assert.equal(s.hiddenSize, 64);
    assert.equal(s.intermediateSize, 172);
    assert.equal(s.numLayers, 5);
    assert.equal(s.numHeads, 8);
    assert.equal(s.numKvHeads, 4);
    assert.equal(s.headDim, 8);
    assert.equal(s.vocabSize, 512);
    assert.equal(s.maxPositions, 512);
    assert.equal(s.norm, 'rms');
    assert.equal(s.normEps, 1e-5);
    assert.equal(s.activation, 'silu');
    assert.equal(s.positions, 'rope');
    assert.deepEqual(s.rope, { theta: 10000, dim: 8 });
    assert.equal(s.tiedEmbeddings, true);
    assert.equal(s.bosTokenId, 1);
    assert.deepEqual(s.eosTokenIds, [2]);
    assert.equal(s.addBos, true);
    assert.equal(s.attnQkvBias || s.attnOutBias || s.mlpBias || s.qkNorm, false);
    assert.equal(m.tokenizer.vocabSize, 512);
    assert.equal(m.source.format, 'llama2c');
    assert.equal(m.source.name, 'stories260K');
    assert.deepEqual(m.source.dtypes, { F32: 47 });
  });

  test('canonical weights: names, shapes, transposes and q/k permutation', () => {
    const m = loadLlama2c(CKPT, TOK);
    const w = m.weights;
    assert.equal(w.size, 5 * 9 + 2);
    assert.equal(w.has('token_embd'), false, 'tied: only output.weight is stored');
    const D = 64;
    const F = 172;
    const V = 512;
    const hd = 8;
    const kv = 32;
    const L = 5;
    const shapes: Record<string, number[]> = {
      'attn_norm.weight': [D],
      'attn_q.weight': [D, D],
      'attn_k.weight': [D, kv],
      'attn_v.weight': [D, kv],
      'attn_output.weight': [D, D],
      'ffn_norm.weight': [D],
      'ffn_gate.weight': [D, F],
      'ffn_up.weight': [D, F],
      'ffn_down.weight': [F, D],
    };
    for (let l = 0; l < L; l++) {
      for (const [name, shape] of Object.entries(shapes)) assert.deepEqual(w.get(`blk.${l}.${name}`)?.shape, shape, name);
    }
    assert.deepEqual(w.get('output_norm.weight')?.shape, [D]);
    assert.deepEqual(w.get('output.weight')?.shape, [D, V]);

    // Raw sections of the legacy layout.
    const { body } = legacySections(raw);
    let off = 0;
    const take = (n: number): Float32Array => body.subarray(off, (off += n));
    const emb = take(V * D);
    const rmsAtt = take(L * D);
    const wq = take(L * D * D);
    const wk = take(L * kv * D);
    const wv = take(L * kv * D);
    take(L * D * D); // wo
    take(L * D); // rms_ffn
    take(L * F * D); // w1
    const w2 = take(L * D * F);

    const out = w.get('output.weight')!.data;
    for (let v = 0; v < V; v += 37) for (let d = 0; d < D; d++) assert.equal(out[d * V + v], emb[v * D + d]);
    const l = 3;
    assert.deepEqual(w.get(`blk.${l}.attn_norm.weight`)!.data, rmsAtt.slice(l * D, (l + 1) * D));
    const q = w.get(`blk.${l}.attn_q.weight`)!.data;
    const k = w.get(`blk.${l}.attn_k.weight`)!.data;
    const v = w.get(`blk.${l}.attn_v.weight`)!.data;
    const down = w.get(`blk.${l}.ffn_down.weight`)!.data;
    for (let i = 0; i < D; i++) {
      for (let h = 0; h < 8; h++) {
        for (let j = 0; j < hd / 2; j++) {
          assert.equal(q[i * D + h * hd + j], wq[l * D * D + (h * hd + 2 * j) * D + i]);
          assert.equal(q[i * D + h * hd + hd / 2 + j], wq[l * D * D + (h * hd + 2 * j + 1) * D + i]);
          if (h < 4) {
            assert.equal(k[i * kv + h * hd + j], wk[l * kv * D + (h * hd + 2 * j) * D + i]);
            assert.equal(k[i * kv + h * hd + hd / 2 + j], wk[l * kv * D + (h * hd + 2 * j + 1) * D + i]);
          }
        }
      }
      for (let o = 0; o < kv; o++) assert.equal(v[i * kv + o], wv[l * kv * D + o * D + i]);
    }
    for (let f = 0; f < F; f++) for (let d = 0; d < D; d += 7) assert.equal(down[f * D + d], w2[l * D * F + d * F + f]);
  });

  test('real q/k weights: attention scores agree between the two RoPE conventions', () => {
    const m = loadLlama2c(CKPT, TOK);
    const { body } = legacySections(raw);
    const D = 64;
    const kv = 32;
    const l = 1;
    const wqOff = 512 * D + 5 * D;
    const wq = body.subarray(wqOff + l * D * D, wqOff + (l + 1) * D * D);
    const wkOff = wqOff + 5 * D * D;
    const wk = body.subarray(wkOff + l * kv * D, wkOff + (l + 1) * kv * D);
    const r = rng(3);
    const x = Float64Array.from({ length: D }, r);
    const y = Float64Array.from({ length: D }, r);
    const ref = headDots(ropeInterleaved(matvecOutIn(wq, D, D, x), 8, 9), ropeInterleaved(matvecOutIn(wk, kv, D, y), 8, 4), 8, 2);
    const got = headDots(
      ropeHalfSplit(matvecInOut(m.weights.get(`blk.${l}.attn_q.weight`)!.data, D, D, x), 8, 9),
      ropeHalfSplit(matvecInOut(m.weights.get(`blk.${l}.attn_k.weight`)!.data, D, kv, y), 8, 4),
      8,
      2,
    );
    assertClose(got, ref, 1e-9, 'score');
  });

  test('tokenizer: round trip and GREEDY_SAMPLE.txt', () => {
    const { tokenizer: t } = loadLlama2c(CKPT);
    const story = 'Once upon a time, there was a little dog named Max. He liked to run and jump!\nThe end.';
    assert.equal(t.decode(t.encode(story)), story);
    assert.deepEqual(t.encode('Once upon a time'), [403, 407, 261, 378]);
    const sample = readFileSync(join(DIR, 'GREEDY_SAMPLE.txt'), 'utf8');
    const ids = t.encode(sample);
    // The sample is 256 generated tokens; re-encoding it yields the same count.
    assert.equal(ids.length, 256);
    assert.equal(t.decode(ids), sample);
    assert.equal(t.decode([1, ...ids, 2]), sample, 'BOS/EOS are dropped');
    assert.equal(t.tokenToId('<s>'), 1);
    assert.equal(t.tokenToId('</s>'), 2);
    assert.equal(t.idToToken(1), '\n<s>\n');
  });

  test('version 1 ("ak42") export loads to the same weights', () => {
    const { header, body } = legacySections(raw);
    const [D, F, L, H, Hkv, V, S] = header;
    const hd = D / H;
    const kv = Hkv * hd;
    let off = 0;
    const take = (n: number): Float32Array => body.subarray(off, (off += n));
    const emb = take(V * D);
    const rmsAtt = take(L * D);
    const lin = [take(L * D * D), take(L * kv * D), take(L * kv * D), take(L * D * D)];
    const rmsFfn = take(L * D);
    const ffn = [take(L * F * D), take(L * D * F), take(L * F * D)];
    const rmsFinal = take(D);
    const head = Buffer.alloc(256);
    head.writeUInt32LE(0x616b3432, 0);
    head.writeInt32LE(1, 4);
    int32s([D, F, L, H, Hkv, V, S]).copy(head, 8);
    head.writeUInt8(1, 36);
    const v1 = Buffer.concat([head, ...[rmsAtt, rmsFfn, rmsFinal, emb, ...lin, ...ffn].map(f32bytes)]);
    const a = loadLlama2c(CKPT, TOK);
    const b = loadLlama2c(tmpFile(v1), TOK);
    assert.deepEqual(b.spec, a.spec);
    assert.deepEqual([...b.weights.keys()].sort(), [...a.weights.keys()].sort());
    for (const [name, t] of a.weights) assert.deepEqual(b.weights.get(name), t, name);

    const v2 = Buffer.from(v1);
    v2.writeInt32LE(2, 4);
    assert.throws(() => loadLlama2c(tmpFile(v2), TOK), (e: unknown) => e instanceof ModelFileError && /version 2/.test(e.problem));
  });

  test('unshared classifier (negative vocab_size) keeps token_embd and a separate output', () => {
    const { header, body } = legacySections(raw);
    const [D, , , , , V] = header;
    const wcls = Float32Array.from(body.subarray(0, V * D), (x) => 2 * x + 1);
    const file = Buffer.concat([int32s([...header.slice(0, 5), -V, header[6]]), f32bytes(body), f32bytes(wcls)]);
    const m = loadLlama2c(tmpFile(file), TOK);
    assert.equal(m.spec.tiedEmbeddings, false);
    assert.deepEqual(m.weights.get('token_embd')?.shape, [V, D]);
    assert.deepEqual(m.weights.get('token_embd')!.data, body.slice(0, V * D));
    const out = m.weights.get('output.weight')!;
    assert.deepEqual(out.shape, [D, V]);
    assert.equal(out.data[3 * V + 10], wcls[10 * D + 3]);
    assert.equal(m.weights.size, 5 * 9 + 3);
  });

  test('malformed checkpoints are ModelFileErrors', () => {
    const isFileError = (re: RegExp) => (e: unknown) => e instanceof ModelFileError && re.test(e.problem);
    for (const n of [0, 10, 27]) {
      assert.throws(() => loadLlama2c(tmpFile(raw.subarray(0, n)), TOK), isFileError(/too short/), `length ${n}`);
    }
    for (const n of [28, 1000, raw.length - 4, raw.length - 1]) {
      assert.throws(() => loadLlama2c(tmpFile(raw.subarray(0, n)), TOK), isFileError(/truncated/), `length ${n}`);
    }
    assert.throws(() => loadLlama2c(tmpFile(Buffer.concat([raw, Buffer.alloc(8)])), TOK), isFileError(/8 bytes of trailing data/));
    const body = raw.subarray(28);
    const withHeader = (h: number[]): string => tmpFile(Buffer.concat([int32s(h), body]));
    assert.throws(() => loadLlama2c(withHeader([0, 172, 5, 8, 4, 512, 512]), TOK), isFileError(/non-positive dim/));
    assert.throws(() => loadLlama2c(withHeader([64, 172, -5, 8, 4, 512, 512]), TOK), isFileError(/non-positive n_layers/));
    assert.throws(() => loadLlama2c(withHeader([64, 172, 5, 8, 0, 512, 512]), TOK), isFileError(/non-positive n_kv_heads/));
    assert.throws(() => loadLlama2c(withHeader([64, 172, 5, 8, 4, 512, 0]), TOK), isFileError(/non-positive seq_len/));
    assert.throws(() => loadLlama2c(withHeader([64, 172, 5, 7, 7, 512, 512]), TOK), isFileError(/not divisible by n_heads/));
    assert.throws(() => loadLlama2c(withHeader([64, 172, 5, 8, 3, 512, 512]), TOK), isFileError(/not divisible by n_kv_heads/));
    assert.throws(() => loadLlama2c(join(tmp, 'missing.bin'), TOK), isFileError(/cannot open/));
    // No tokenizer beside a checkpoint in an otherwise empty directory.
    const lonely = mkdtempSync(join(tmp, 'lonely-'));
    writeFileSync(join(lonely, 'model.bin'), raw);
    assert.throws(() => loadLlama2c(join(lonely, 'model.bin')), isFileError(/no llama2.c tokenizer/));
  });

  test('malformed tokenizer files are ModelFileErrors', () => {
    const tok = readFileSync(TOK);
    const isFileError = (re: RegExp) => (e: unknown) => e instanceof ModelFileError && re.test(e.problem);
    assert.throws(() => readLlama2cTokenizer(tmpFile(Buffer.alloc(2)), 512), isFileError(/too short/));
    for (const n of [4, 100, tok.length - 1]) {
      assert.throws(() => readLlama2cTokenizer(tmpFile(tok.subarray(0, n)), 512), isFileError(/truncated/), `length ${n}`);
    }
    assert.throws(() => readLlama2cTokenizer(tmpFile(Buffer.concat([tok, Buffer.alloc(3)])), 512), isFileError(/bytes follow/));
    assert.throws(() => readLlama2cTokenizer(TOK, 600), isFileError(/truncated/));
    assert.throws(() => readLlama2cTokenizer(TOK, 500), isFileError(/bytes follow/));
    const badLen = Buffer.from(tok);
    badLen.writeInt32LE(-3, 8); // length of token 0
    assert.throws(() => readLlama2cTokenizer(tmpFile(badLen), 512), isFileError(/length -3/));
    const badMax = Buffer.from(tok);
    badMax.writeInt32LE(0, 0);
    assert.throws(() => readLlama2cTokenizer(tmpFile(badMax), 512), isFileError(/max_token_length/));
    assert.throws(() => loadLlama2c(CKPT, tmpFile(tok.subarray(0, 50))), isFileError(/truncated/));
    assert.throws(() => readLlama2cTokenizer(join(tmp, 'nope.bin'), 512), isFileError(/cannot read/));
  });
});
