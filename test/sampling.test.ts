import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { InvalidInputError } from '../src/io/errors.js';
import { createRng, Xoshiro128StarStar } from '../src/runtime/rng.js';
import { applyPenalties, argmax, logSoftmax, Sampler } from '../src/runtime/sampling.js';
import { validateSamplingOptions, type SamplingOptions } from '../src/runtime/sampling-options.js';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);
/** Logits whose softmax is exactly `probs` (up to float32 rounding). */
const logitsOf = (probs: number[]): Float32Array => f32(probs.map(Math.log));

function close(actual: number, expected: number, tol: number, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what} ${actual} vs ${expected} (tol ${tol})`);
}

/** Empirical frequencies of `draws` samples (fresh copy of the logits each time). */
function frequencies(opts: SamplingOptions, logits: number[], draws: number): number[] {
  const s = new Sampler(opts);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[s.sample(f32(logits), [])]++;
  return counts.map((c) => c / draws);
}

function kept(opts: SamplingOptions, logits: Float32Array, history: number[] = []): { ids: number[]; probs: number[] } {
  const d = new Sampler({ seed: 1, ...opts }).distribution(logits, history);
  return { ids: [...d.ids], probs: [...d.probs] };
}

describe('rng', () => {
  it('matches the xoshiro128** reference C code', () => {
    // Reference outputs for state {1,2,3,4} from Vigna's xoshiro128starstar.c.
    const r = new Xoshiro128StarStar(1, 2, 3, 4);
    assert.deepEqual(
      Array.from({ length: 6 }, () => r.nextUint32()),
      [11520, 0, 5927040, 70819200, 2031721883, 1637235492],
    );
    // splitmix64 seeding, also checked against C (state = two splitmix64 outputs, low word first).
    const seeded = (seed: number): number[] => {
      const g = createRng(seed);
      return Array.from({ length: 4 }, () => g.nextUint32());
    };
    assert.deepEqual(seeded(0), [3737715805, 2584255861, 2876756834, 3286328325]);
    assert.deepEqual(seeded(42), [1776835114, 4165204688, 17111135, 2317295270]);
    assert.deepEqual(seeded(-1), [477689756, 2493998634, 555695776, 607808419]);
  });

  it('gives floats in [0, 1) with a sane mean', () => {
    const g = createRng(7);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const x = g.nextFloat();
      assert.ok(x >= 0 && x < 1);
      sum += x;
    }
    close(sum / 10000, 0.5, 0.02, 'mean');
  });

  it('rejects non-integer seeds', () => {
    for (const bad of [1.5, NaN, Infinity, -Infinity]) {
      assert.throws(() => createRng(bad), (e: unknown) => e instanceof InvalidInputError && /seed/.test(e.message));
    }
  });
});

describe('greedy', () => {
  it('argmax picks the largest, lowest id on ties', () => {
    assert.equal(argmax(f32([0.1, 3, -2, 2.9])), 1);
    assert.equal(argmax(f32([1, 5, 5, 5])), 1);
    assert.equal(argmax(f32([-Infinity, -Infinity])), 0);
    assert.equal(argmax(f32([NaN, 1, NaN])), 1);
  });

  it('temperature 0 is argmax, ties → lowest id', () => {
    const s = new Sampler({ temperature: 0, topK: 1, seed: 3 });
    assert.equal(s.sample(f32([0, 7, 7, 1]), []), 1);
    assert.equal(new Sampler({ temperature: 0 }).sample(f32([2, 1, 2]), []), 0);
  });

  it('temperature 0 applies penalties first', () => {
    // [2, 1.5] with repetition penalty 2 on id 0 → [1, 1.5] → id 1.
    assert.equal(new Sampler({ temperature: 0, repetitionPenalty: 2 }).sample(f32([2, 1.5]), [0]), 1);
  });

  it('a +Infinity logit is certain; NaN and fully masked logits are errors', () => {
    assert.equal(new Sampler({ seed: 1 }).sample(f32([0, Infinity, Infinity]), []), 1);
    assert.throws(() => new Sampler({ seed: 1 }).sample(f32([0, NaN]), []), InvalidInputError);
    assert.throws(() => new Sampler({ seed: 1 }).sample(f32([-Infinity, -Infinity]), []), InvalidInputError);
    assert.throws(() => new Sampler({ seed: 1 }).sample(new Float32Array(0), []), InvalidInputError);
  });
});

describe('temperature', () => {
  const logits = [1, 2, 3];
  it('T=2: distribution matches hand-computed softmax([0.5, 1, 1.5])', () => {
    // e^0.5 = 1.648721, e^1 = 2.718282, e^1.5 = 4.481689, sum 8.848692
    const expected = [0.186324, 0.307196, 0.50648];
    const d = kept({ temperature: 2 }, f32(logits));
    assert.deepEqual(d.ids, [0, 1, 2]);
    d.probs.forEach((p, i) => close(p, expected[i], 1e-6, `p[${i}]`));
    frequencies({ temperature: 2, seed: 11 }, logits, 20000).forEach((f, i) => close(f, expected[i], 0.015, `freq[${i}]`));
  });

  it('T=0.5: sharpens to softmax([2, 4, 6])', () => {
    // e^-4 = 0.0183156, e^-2 = 0.135335, 1; sum 1.1536506
    const expected = [0.015876, 0.117311, 0.866813];
    const d = kept({ temperature: 0.5 }, f32(logits));
    d.probs.forEach((p, i) => close(p, expected[i], 1e-6, `p[${i}]`));
    frequencies({ temperature: 0.5, seed: 12 }, logits, 20000).forEach((f, i) => close(f, expected[i], 0.015, `freq[${i}]`));
  });

  it('same seed → same sequence; different seed → different sequence', () => {
    const run = (seed: number): number[] => {
      const s = new Sampler({ seed });
      return Array.from({ length: 64 }, () => s.sample(f32([0, 0, 0, 0, 0, 0, 0, 0]), []));
    };
    assert.deepEqual(run(5), run(5));
    assert.notDeepEqual(run(5), run(6));
  });

  it('without a seed, picks one and reports it for reproduction', () => {
    const a = new Sampler({});
    const b = new Sampler({ seed: a.seed });
    const la = Array.from({ length: 32 }, () => a.sample(f32([0, 0, 0, 0]), []));
    const lb = Array.from({ length: 32 }, () => b.sample(f32([0, 0, 0, 0]), []));
    assert.deepEqual(la, lb);
  });
});

describe('top-k', () => {
  it('k=2 never picks the third token', () => {
    const f = frequencies({ topK: 2, seed: 21 }, [3, 1, 2], 5000);
    assert.equal(f[1], 0);
    // Renormalised over {0, 2}: e^3 / (e^3 + e^2) = 1 / (1 + e^-1) = 0.731059
    close(f[0], 0.731059, 0.02, 'freq[0]');
    assert.deepEqual(kept({ topK: 2 }, f32([3, 1, 2])).ids, [0, 2]);
  });

  it('ties at the boundary go to the lower id', () => {
    assert.deepEqual(kept({ topK: 2 }, f32([1, 1, 1, 0])).ids, [0, 1]);
    assert.deepEqual(kept({ topK: 3 }, f32([0, 5, 1, 5, 5])).ids, [1, 3, 4]);
  });

  it('k ≥ vocabulary size is a no-op', () => {
    assert.deepEqual(kept({ topK: 10 }, f32([0, 1])).ids, [0, 1]);
  });

  it('selects the right k from a large shuffled vocabulary', () => {
    const V = 50000;
    const logits = new Float32Array(V);
    for (let i = 0; i < V; i++) logits[i] = ((i * 7919) % V) / 1000; // a permutation of 0..49.999
    const d = kept({ topK: 5 }, logits);
    const expected = [49999, 49998, 49997, 49996, 49995].map((v) => {
      for (let i = 0; i < V; i++) if ((i * 7919) % V === v) return i;
      return -1;
    });
    assert.deepEqual(d.ids, expected);
  });
});

describe('top-p', () => {
  // Probabilities [0.5, 0.3, 0.15, 0.05] placed out of order to exercise the ranking.
  const probs = [0.15, 0.5, 0.05, 0.3];

  it('p=0.8 keeps exactly the two most likely tokens', () => {
    const d = kept({ topP: 0.8 }, logitsOf(probs));
    assert.deepEqual(d.ids, [1, 3]);
    close(d.probs[0], 0.5 / 0.8, 1e-6);
    close(d.probs[1], 0.3 / 0.8, 1e-6);
    const f = frequencies({ topP: 0.8, seed: 31 }, [...logitsOf(probs)], 5000);
    assert.equal(f[0] + f[2], 0);
    close(f[1], 0.625, 0.025, 'freq[1]');
  });

  it('cut points: p=0.5 → 1 token, 0.79 → 2, 0.81 → 3, 0.96 → 4 (listed by id)', () => {
    assert.deepEqual(kept({ topP: 0.5 }, logitsOf(probs)).ids, [1]);
    assert.deepEqual(kept({ topP: 0.79 }, logitsOf(probs)).ids, [1, 3]);
    assert.deepEqual(kept({ topP: 0.81 }, logitsOf(probs)).ids, [0, 1, 3]);
    assert.deepEqual(kept({ topP: 0.96 }, logitsOf(probs)).ids, [0, 1, 2, 3]);
  });

  it('always keeps the top token', () => {
    assert.deepEqual(kept({ topP: 0.01 }, logitsOf(probs)).ids, [1]);
  });

  it('applies after top-k, on the renormalised distribution', () => {
    // top-k=3 → {0.5, 0.3, 0.15} / 0.95 = {0.5263, 0.3158, 0.1579}; 0.8421 ≥ 0.8 → two.
    assert.deepEqual(kept({ topK: 3, topP: 0.8 }, logitsOf(probs)).ids, [1, 3]);
    // p=0.85: 0.8421 < 0.85 → three.
    assert.deepEqual(kept({ topK: 3, topP: 0.85 }, logitsOf(probs)).ids, [1, 3, 0]);
  });

  it('breaks ties inside a large flat nucleus by id', () => {
    // 1000 equal tokens: p=0.5 needs exactly 500 of them, lowest ids first.
    const d = kept({ topP: 0.5 }, new Float32Array(1000));
    assert.equal(d.ids.length, 500);
    assert.deepEqual(d.ids.slice(0, 3), [0, 1, 2]);
    assert.equal(d.ids[499], 499);
  });
});

describe('filters vs a full-sort reference', () => {
  /** Straightforward HF-style implementation: sort everything, cut, renormalise. */
  function reference(logits: Float32Array, o: { temperature: number; topK: number; topP: number; minP: number }): Map<number, number> {
    const m = Math.max(...logits);
    let order = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b);
    let w = new Map(order.map((i) => [i, Math.exp((logits[i] - m) / o.temperature)]));
    if (o.topK > 0) order = order.slice(0, o.topK);
    const sum = (ids: number[]): number => ids.reduce((s, i) => s + (w.get(i) ?? 0), 0);
    if (o.topP < 1) {
      const z = sum(order);
      let cum = 0;
      const n = order.findIndex((i) => (cum += w.get(i) ?? 0) >= (o.topP - 1e-6) * z);
      order = order.slice(0, n < 0 ? order.length : n + 1);
    }
    order = order.filter((i, j) => j === 0 || (w.get(i) ?? 0) >= o.minP);
    const z = sum(order);
    w = new Map(order.map((i) => [i, (w.get(i) ?? 0) / z]));
    return w;
  }

  it('agrees on random logits with many ties', () => {
    const g = createRng(99);
    for (let trial = 0; trial < 200; trial++) {
      const V = 1 + Math.floor(g.nextFloat() * 3000);
      // Coarse values → plenty of exact ties, including at the cut.
      const logits = Float32Array.from({ length: V }, () => Math.round(g.nextFloat() * 40) / 4 - 5);
      const o = {
        temperature: [0.3, 1, 2.5][trial % 3],
        topK: trial % 4 === 0 ? 1 + Math.floor(g.nextFloat() * 50) : 0,
        topP: trial % 2 === 0 ? 0.05 + 0.9 * g.nextFloat() : 1,
        minP: trial % 5 === 0 ? 0.3 * g.nextFloat() : 0,
      };
      const want = reference(logits, o);
      const got = new Sampler({ ...o, seed: 1 }).distribution(Float32Array.from(logits), []);
      assert.deepEqual([...got.ids].sort((a, b) => a - b), [...want.keys()].sort((a, b) => a - b), JSON.stringify(o));
      got.ids.forEach((id, j) => close(got.probs[j], want.get(id) ?? NaN, 1e-5, `p[${id}]`));
    }
  });
});

describe('min-p', () => {
  const probs = [0.15, 0.5, 0.05, 0.3];
  it('keeps tokens with p ≥ minP · pmax', () => {
    // minP 0.2 → threshold 0.1: keeps 0.5, 0.3, 0.15 (id order, as no ranking was needed).
    const a = kept({ minP: 0.2 }, logitsOf(probs));
    assert.deepEqual(a.ids, [0, 1, 3]);
    close(a.probs[1], 0.5 / 0.95, 1e-6);
    // minP 0.35 → threshold 0.175: keeps 0.5 and 0.3.
    assert.deepEqual(kept({ minP: 0.35 }, logitsOf(probs)).ids, [1, 3]);
    const f = frequencies({ minP: 0.35, seed: 41 }, [...logitsOf(probs)], 4000);
    assert.equal(f[0] + f[2], 0);
  });

  it('combines with top-k and top-p (the smaller kept set wins)', () => {
    assert.deepEqual(kept({ minP: 0.2, topP: 0.7 }, logitsOf(probs)).ids, [1, 3]);
    assert.deepEqual(kept({ minP: 0.35, topP: 0.99 }, logitsOf(probs)).ids, [1, 3]);
    assert.deepEqual(kept({ minP: 0.2, topK: 3 }, logitsOf(probs)).ids, [1, 3, 0]);
    assert.deepEqual(kept({ minP: 0.35, topK: 3 }, logitsOf(probs)).ids, [1, 3]);
  });
});

describe('penalties', () => {
  const base = { repetitionPenalty: 1, repetitionWindow: Infinity, frequencyPenalty: 0, presencePenalty: 0 };

  it('repetition penalty divides positive and multiplies negative logits, once per distinct id', () => {
    const l = f32([2, -2, 1, 0.5]);
    applyPenalties(l, [0, 1, 0, 0], { ...base, repetitionPenalty: 2 });
    assert.deepEqual([...l], [1, -4, 1, 0.5]);
    const m = f32([3, -1.5, 0]);
    applyPenalties(m, [0, 1, 2], { ...base, repetitionPenalty: 1.5 });
    assert.deepEqual([...m], [2, -2.25, 0]);
  });

  it('frequency and presence penalties follow OpenAI semantics', () => {
    // id0 seen twice: 1 − 2·0.5 − 0.25 = −0.25; id1 once: 1 − 0.5 − 0.25 = 0.25; id2 unseen.
    const l = f32([1, 1, 1]);
    applyPenalties(l, [0, 0, 1], { ...base, frequencyPenalty: 0.5, presencePenalty: 0.25 });
    assert.deepEqual([...l], [-0.25, 0.25, 1]);
  });

  it('repetition first, then frequency/presence', () => {
    // id0: 2 / 2 = 1, then − 1·0.5 = 0.5. id1: −1 · 2 = −2, then − 0.5 = −2.5.
    const l = f32([2, -1, 0]);
    applyPenalties(l, [0, 1], { ...base, repetitionPenalty: 2, frequencyPenalty: 0.5 });
    assert.deepEqual([...l], [0.5, -2.5, 0]);
  });

  it('window limits which recent tokens count; out-of-vocabulary ids are ignored', () => {
    const l = f32([1, 1, 1]);
    applyPenalties(l, [0, 0, 99, 1], { ...base, repetitionWindow: 2, presencePenalty: 1 });
    assert.deepEqual([...l], [1, 0, 1]);
  });

  it('the Sampler applies them before sampling', () => {
    // Without the penalty id 0 dominates; presence 100 makes id 1 certain.
    const s = new Sampler({ presencePenalty: 100, seed: 2 });
    for (let i = 0; i < 20; i++) assert.equal(s.sample(f32([5, 4]), [0]), 1);
  });
});

describe('logSoftmax', () => {
  it('matches a hand-computed case', () => {
    // logsumexp([1,2,3]) = 3 + ln(1 + e^-1 + e^-2) = 3.40760596
    const out = logSoftmax(f32([1, 2, 3]));
    [-2.40760596, -1.40760596, -0.40760596].forEach((v, i) => close(out[i], v, 1e-6, `[${i}]`));
  });

  it('is stable at ±1e4', () => {
    const out = logSoftmax(f32([1e4, -1e4, 0]));
    assert.deepEqual([...out], [0, -2e4, -1e4]);
    const eq = logSoftmax(f32([1e4, 1e4]));
    eq.forEach((v) => close(v, -Math.LN2, 1e-7));
    const neg = logSoftmax(f32([-1e4, -1e4 - 1]));
    close(neg[0], -0.31326169, 1e-6); // −ln(1 + e^-1)
    close(neg[1], -1.31326169, 1e-6);
  });

  it('writes in place when out aliases the input, and keeps −Infinity masked', () => {
    const l = f32([0, 0, -Infinity]);
    assert.equal(logSoftmax(l, l), l);
    close(l[0], -Math.LN2, 1e-7);
    assert.equal(l[2], -Infinity);
    assert.throws(() => logSoftmax(f32([1, 2]), new Float32Array(3)), InvalidInputError);
  });
});

describe('validation', () => {
  const bad: Array<[SamplingOptions, RegExp]> = [
    [{ temperature: NaN }, /temperature/],
    [{ temperature: -0.1 }, /temperature/],
    [{ temperature: Infinity }, /temperature/],
    [{ topK: -1 }, /topK/],
    [{ topK: 1.5 }, /topK/],
    [{ topP: 0 }, /topP/],
    [{ topP: 1.01 }, /topP/],
    [{ topP: NaN }, /topP/],
    [{ minP: -0.1 }, /minP/],
    [{ minP: 1 }, /minP/],
    [{ repetitionPenalty: 0 }, /repetitionPenalty/],
    [{ repetitionPenalty: -1 }, /repetitionPenalty/],
    [{ repetitionWindow: 0 }, /repetitionWindow/],
    [{ frequencyPenalty: Infinity }, /frequencyPenalty/],
    [{ presencePenalty: NaN }, /presencePenalty/],
    [{ seed: 0.5 }, /seed/],
    [{ temperature: '1' as unknown as number }, /temperature/],
  ];
  for (const [opts, re] of bad) {
    it(`rejects ${inspect(opts)}`, () => {
      assert.throws(() => new Sampler(opts), (e: unknown) => e instanceof InvalidInputError && re.test(e.message));
    });
  }

  it('fills in defaults', () => {
    assert.deepEqual(validateSamplingOptions({}), {
      temperature: 1,
      topK: 0,
      topP: 1,
      minP: 0,
      repetitionPenalty: 1,
      repetitionWindow: Infinity,
      frequencyPenalty: 0,
      presencePenalty: 0,
      seed: undefined,
      logitBias: undefined,
      processors: [],
    });
  });
});

describe('logit bias', () => {
  it('adds to the listed logits before sampling, OpenAI-style', () => {
    // logits (0, 1, 2) + bias {0: +3}: softmax of (3, 1, 2) by hand.
    const d = kept({ logitBias: new Map([[0, 3]]) }, Float32Array.of(0, 1, 2));
    const z = Math.exp(3) + Math.exp(1) + Math.exp(2);
    assert.deepEqual([...d.ids].sort(), [0, 1, 2]);
    for (const [id, l] of [[0, 3], [1, 1], [2, 2]] as const) {
      assert.ok(Math.abs(d.probs[d.ids.indexOf(id)] - Math.exp(l) / z) < 1e-6);
    }
    assert.equal(new Sampler({ temperature: 0, logitBias: new Map([[0, 3]]) }).sample(Float32Array.of(0, 1, 2), []), 0);
    assert.equal(new Sampler({ temperature: 0, logitBias: new Map([[2, -Infinity]]) }).sample(Float32Array.of(0, 1, 2), []), 1);
    // An id past the output head moves nothing.
    assert.equal(new Sampler({ temperature: 0, logitBias: new Map([[7, 100]]) }).sample(Float32Array.of(0, 1, 2), []), 2);
  });

  it('rejects bad biases', () => {
    assert.throws(() => new Sampler({ logitBias: new Map([[-1, 1]]) }), /non-negative integer/);
    assert.throws(() => new Sampler({ logitBias: new Map([[1, Number.NaN]]) }), /finite number or -Infinity/);
    assert.throws(() => new Sampler({ logitBias: new Map([[1, Infinity]]) }), /finite number or -Infinity/);
  });
});
