import { ModelFileError } from '../io/errors.js';
import { ropeInvFreq } from './rope-tables.js';
import type { ModelSpec } from './spec.js';

/**
 * Checks every ModelSpec field the graph and the runtime depend on, before any weight is
 * read or any table is allocated from it. Every loader calls validateModelSpec right after
 * building the spec, passing the names its source file uses for the fields, so an error reads
 * e.g. `…/config.json: "rms_norm_eps" must be a positive number below 1, got -1`
 * (one line, a ModelFileError naming the file and the field).
 *
 * Sizes are positive integers below the limits of SPEC_LIMITS. Each limit is far above any
 * released model (largest known values in parentheses), and low enough that nothing sized
 * from a field can exhaust memory before the tensors themselves are checked against it.
 */
export const SPEC_LIMITS = {
  /** Token vocabulary (Gemma 3: 262,144). 2^22. */
  vocabSize: 1 << 22,
  /** Residual width (Llama 3.1 405B: 16,384). 2^16. */
  hiddenSize: 1 << 16,
  /** Transformer blocks (Llama 3.1 405B: 126). */
  numLayers: 1024,
  /** Query heads (Llama 3.1 405B: 128); key/value heads are at most this. */
  numHeads: 1024,
  /** Per-head width (Gemma: 256). 2^12. */
  headDim: 1 << 12,
  /** MLP width (dense models: 53,248). 2^20. */
  intermediateSize: 1 << 20,
  /** Context length (Llama 4 Scout: 10M). 2^24; RoPE tables are sized by what a pass needs, not by this. */
  maxPositions: 1 << 24,
} as const;

/**
 * normEps must lie in [MIN_NORM_EPS, 1): positive, finite, and still a normal float32 once the
 * graph stores it (a value that rounds to 0 in float32 divides by zero on an all-zero row).
 */
const MIN_NORM_EPS = 1e-30;

/** Spec fields whose source name a loader can give (dotted paths for nested fields). */
type SpecField =
  | keyof typeof SPEC_LIMITS
  | 'numKvHeads'
  | 'normEps'
  | 'rope.theta'
  | 'rope.dim'
  | 'rope.scaling.factor'
  | 'rope.scaling.lowFreqFactor'
  | 'rope.scaling.highFreqFactor'
  | 'rope.scaling.originalMaxPositions'
  | 'rope.scaling.factors'
  | 'bosTokenId'
  | 'eosTokenIds'
  | 'padTokenId';

/** How the source file names each field, ready to print (e.g. `"rms_norm_eps"`); fields left out are printed as spec fields. */
export type SpecFieldNames = Readonly<Partial<Record<SpecField, string>>>;

/** A value as an error message shows it. */
export function showValue(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'bigint') return v.toString();
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
}

/** Throws a one-line ModelFileError naming `file` and the offending field; returns the spec when it is usable. */
export function validateModelSpec(spec: ModelSpec, file: string, names: SpecFieldNames = {}): ModelSpec {
  const label = (f: SpecField): string => names[f] ?? `model ${f}`;
  const fail = (f: SpecField, problem: string): never => {
    throw new ModelFileError(file, `${label(f)} ${problem}`);
  };
  const size = (f: SpecField, value: number, max: number): void => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
      fail(f, `must be an integer in 1..${max}, got ${showValue(value)}`);
    }
  };
  const positive = (f: SpecField, value: number): void => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(f, `must be a positive finite number, got ${showValue(value)}`);
  };

  for (const f of Object.keys(SPEC_LIMITS) as (keyof typeof SPEC_LIMITS)[]) size(f, spec[f], SPEC_LIMITS[f]);
  size('numKvHeads', spec.numKvHeads, spec.numHeads);
  if (spec.numHeads % spec.numKvHeads !== 0) {
    fail('numKvHeads', `(${spec.numKvHeads}) must divide ${label('numHeads')} (${spec.numHeads})`);
  }
  if (spec.family === 'gpt2') {
    if (spec.numKvHeads !== spec.numHeads) fail('numKvHeads', `(${spec.numKvHeads}) must equal ${label('numHeads')} (${spec.numHeads}) for GPT-2`);
    if (spec.numHeads * spec.headDim !== spec.hiddenSize) {
      fail('headDim', `(${spec.headDim}) × ${label('numHeads')} (${spec.numHeads}) must equal ${label('hiddenSize')} (${spec.hiddenSize}) for GPT-2`);
    }
  }

  const eps = spec.normEps;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < MIN_NORM_EPS || eps >= 1) {
    fail('normEps', `must be a positive number below 1 (at least ${MIN_NORM_EPS}), got ${showValue(eps)}`);
  }

  if (spec.positions === 'rope') {
    const rope = spec.rope;
    if (!rope) return fail('rope.dim', 'is missing: a rotary-position model needs RoPE settings');
    positive('rope.theta', rope.theta);
    const d = rope.dim;
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 2 || d > spec.headDim) {
      fail('rope.dim', `must be an even number of rotary dimensions in 2..${spec.headDim} (the head dimension), got ${showValue(d)}`);
    }
    if (d % 2 !== 0) fail('rope.dim', `must be even (RoPE rotates pairs of dimensions), got ${d}`);
    const s = rope.scaling;
    if (s?.type === 'linear') positive('rope.scaling.factor', s.factor);
    if (s?.type === 'llama3') {
      positive('rope.scaling.factor', s.factor);
      positive('rope.scaling.lowFreqFactor', s.lowFreqFactor);
      positive('rope.scaling.highFreqFactor', s.highFreqFactor);
      if (!(s.highFreqFactor > s.lowFreqFactor)) {
        fail('rope.scaling.highFreqFactor', `(${showValue(s.highFreqFactor)}) must be greater than ${label('rope.scaling.lowFreqFactor')} (${showValue(s.lowFreqFactor)})`);
      }
      size('rope.scaling.originalMaxPositions', s.originalMaxPositions, SPEC_LIMITS.maxPositions);
    }
    if (s?.type === 'factors') {
      if (s.factors.length !== d / 2) fail('rope.scaling.factors', `has ${s.factors.length} values but ${d / 2} are needed (half of ${label('rope.dim')}, ${d})`);
      const bad = s.factors.findIndex((x) => !(Number.isFinite(x) && x > 0));
      if (bad >= 0) fail('rope.scaling.factors', `must all be positive finite numbers, got ${showValue(s.factors[bad])} at index ${bad}`);
    }
    // The frequencies themselves: a theta that is positive but extreme can still give 0 or ∞.
    const inv = ropeInvFreq(rope);
    const badFreq = inv.findIndex((x) => !(Number.isFinite(x) && x > 0));
    if (badFreq >= 0) {
      fail('rope.theta', `(${showValue(rope.theta)}) gives a rotary frequency of ${showValue(inv[badFreq])} (index ${badFreq}); every frequency must be positive and finite`);
    }
  } else if (spec.rope !== undefined) {
    fail('rope.dim', 'is set, but the model uses learned positions');
  }

  const tokenId = (f: SpecField, id: number | undefined): void => {
    if (id === undefined) return;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= spec.vocabSize) {
      fail(f, `must be a token id in 0..${spec.vocabSize - 1}, got ${showValue(id)}`);
    }
  };
  tokenId('bosTokenId', spec.bosTokenId);
  tokenId('padTokenId', spec.padTokenId);
  for (const id of spec.eosTokenIds) tokenId('eosTokenIds', id);
  return spec;
}
