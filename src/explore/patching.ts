import { InvalidInputError } from '../io/errors.js';
import { checkPoint, HOOK_SITES, hookName, pointIndex, type HookPoint, type HookSite } from '../graph/hook-points.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { replaceIntervention } from '../runtime/replace-activation.js';
import { tokenString } from '../sae/feature-activations.js';
import { resolvePositions } from './logit-lens.js';

/**
 * Activation patching (causal tracing; Meng et al. 2022, Wang et al. 2022): run the corrupt
 * prompt, but put one activation (a hook point at one position) from the clean run in place,
 * and see how much of the clean behaviour comes back. The metric is log p(target) of the next
 * token, or logit(target) − logit(foil) when a foil is given; the normalised effect is
 * (patched − corrupt) / (clean − corrupt): 1 = the clean behaviour fully restored, 0 = none.
 *
 * Clean and corrupt must have the same token count, so position p means the same slot in both
 * (the standard setting: prompts that differ in a word that is one token in both). Every
 * patched run is one row of a batch: many rows per forward, one compiled plan for them all.
 */

export const DEFAULT_PATCH_SITES: readonly HookSite[] = ['resid_pre', 'attn_out', 'mlp_out', 'resid_post'];

/** Activations taken from the clean run in one patched run: a hook point at some positions. */
export interface Patch {
  readonly point: HookPoint;
  readonly positions: readonly number[];
}

export interface PatchingOptions {
  /** Hook sites patched (default resid_pre, attn_out, mlp_out, resid_post). */
  readonly sites?: readonly HookSite[];
  /** Layers patched (default all). */
  readonly layers?: readonly number[];
  /** Token indices patched, one at a time (default every token; negative counts from the end). */
  readonly positions?: readonly number[];
  /** Token id whose next-token log-prob is measured (default: the clean run's most likely next token). */
  readonly target?: number;
  /** With a foil token id the metric is logit(target) − logit(foil). */
  readonly foil?: number;
  /** Patched runs per forward (default 32). */
  readonly batchSize?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

interface RunSide {
  readonly ids: readonly number[];
  readonly tokens: readonly string[];
  /** The metric on this run, unpatched. */
  readonly metric: number;
}

export interface PatchingSite {
  readonly site: HookSite;
  /** [layer][position], in the order of `layers` and `positions`: the metric with that activation patched. */
  readonly value: readonly (readonly number[])[];
  /** (value − corrupt) / (clean − corrupt); null where clean and corrupt agree. */
  readonly effect: readonly (readonly (number | null)[])[];
}

export interface PatchingResult {
  readonly metric: 'logprob' | 'logit_diff';
  readonly target: { readonly id: number; readonly token: string };
  readonly foil?: { readonly id: number; readonly token: string };
  readonly clean: RunSide;
  readonly corrupt: RunSide;
  readonly layers: readonly number[];
  readonly positions: readonly number[];
  readonly sites: readonly PatchingSite[];
}

/** Most runs one forward may batch. */
const MAX_BATCH = 1024;
/** Clean activations held for patching at most (1 GiB of float32). */
const MAX_CAPTURE_FLOATS = 2 ** 28;

interface Pair {
  readonly clean: number[];
  readonly corrupt: number[];
}

function tokensOf(model: HookedModel, clean: string | readonly number[], corrupt: string | readonly number[]): Pair {
  const ids = (t: string | readonly number[]): number[] => (typeof t === 'string' ? model.encode(t) : [...t]);
  const pair = { clean: ids(clean), corrupt: ids(corrupt) };
  if (pair.clean.length === 0 || pair.corrupt.length === 0) throw new InvalidInputError('clean and corrupt texts need at least one token each');
  if (pair.clean.length !== pair.corrupt.length) {
    throw new InvalidInputError(
      `the clean text has ${pair.clean.length} tokens and the corrupt text ${pair.corrupt.length}: patching compares the runs position by position, ` +
        'so both must have the same token count (the standard setting: change a word for another that is also one token)',
    );
  }
  return pair;
}

/** Clean activations at every point patched: hook name → [seq, hidden]. */
async function captureClean(model: HookedModel, ids: readonly number[], points: readonly HookPoint[]): Promise<{ acts: Map<string, Float32Array>; logits: Float32Array }> {
  if (points.length * ids.length * model.spec.hiddenSize > MAX_CAPTURE_FLOATS) {
    throw new InvalidInputError(`${points.length} hook points × ${ids.length} tokens are too many to patch at once: choose fewer --sites, --layers or a shorter text`);
  }
  const out = await model.forward({ tokens: [ids], hooks: points.map((at): Hook => ({ kind: 'capture', at })), logits: 'last' });
  return { acts: new Map(points.map((p) => [hookName(p), out.captures.get(hookName(p))!.data])), logits: out.logits! };
}

/**
 * Runs the corrupt tokens once per entry of `runs`, each with its patches taken from `clean`
 * (hook name → [seq, hidden]); `measure` turns each run's next-token logits into a number.
 * Every chunk carries an intervention at every point any run patches (rows that do not patch
 * it are left untouched), so all chunks share one compiled plan.
 */
async function patchedRuns<T>(
  model: HookedModel,
  corrupt: readonly number[],
  clean: ReadonlyMap<string, Float32Array>,
  runs: readonly (readonly Patch[])[],
  measure: (logits: Float32Array) => T,
  batchSize: number,
  onProgress?: (done: number, total: number) => void,
): Promise<T[]> {
  const D = model.spec.hiddenSize;
  const seq = corrupt.length;
  const points = new Map<number, HookPoint>();
  for (const run of runs) {
    for (const p of run) {
      checkPoint(p.point, model.spec.numLayers);
      for (const pos of p.positions) if (!Number.isInteger(pos) || pos < 0 || pos >= seq) throw new InvalidInputError(`position ${pos} is outside the ${seq} tokens`);
      if (!clean.has(hookName(p.point))) throw new Error(`no clean activation captured at ${hookName(p.point)}`);
      points.set(pointIndex(p.point), p.point);
    }
  }
  const V = model.spec.vocabSize;
  const results: T[] = [];
  for (let start = 0; start < runs.length; start += batchSize) {
    const chunk = runs.slice(start, start + batchSize);
    const hooks = [...points.values()].map((point): Hook => {
      const name = hookName(point);
      const mask = new Float32Array(chunk.length * seq);
      chunk.forEach((run, b) => {
        for (const p of run) if (hookName(p.point) === name) for (const pos of p.positions) mask[b * seq + pos] = 1;
      });
      const rows = clean.get(name)!;
      return { kind: 'intervene', at: point, intervention: replaceIntervention({ dim: D, value: { kind: 'rows', shared: true, rows: () => rows }, mask: () => mask }) };
    });
    const out = await model.forward({ tokens: chunk.map(() => corrupt), hooks, logits: 'last' });
    for (let b = 0; b < chunk.length; b++) results.push(measure(out.logits!.subarray(b * V, (b + 1) * V)));
    onProgress?.(Math.min(start + batchSize, runs.length), runs.length);
  }
  return results;
}

/**
 * The corrupt run's next-token logits with the given clean activations put in place (no
 * patches: the corrupt run itself). One run; see activationPatching for a sweep.
 */
export async function patchedLogits(model: HookedModel, clean: string | readonly number[], corrupt: string | readonly number[], patches: readonly Patch[]): Promise<Float32Array> {
  const pair = tokensOf(model, clean, corrupt);
  const points = [...new Map(patches.map((p) => [hookName(p.point), p.point])).values()];
  const { acts } = points.length ? await captureClean(model, pair.clean, points) : { acts: new Map<string, Float32Array>() };
  const [logits] = await patchedRuns(model, pair.corrupt, acts, [patches], (l) => Float32Array.from(l), 1);
  return logits;
}

/** log Σ exp(logits), stably. */
function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

function checkToken(model: HookedModel, id: number, what: string): number {
  if (!Number.isInteger(id) || id < 0 || id >= model.spec.vocabSize) throw new InvalidInputError(`${what} token id ${id} is outside the vocabulary (0..${model.spec.vocabSize - 1})`);
  return id;
}

export async function activationPatching(
  model: HookedModel,
  clean: string | readonly number[],
  corrupt: string | readonly number[],
  opts: PatchingOptions = {},
): Promise<PatchingResult> {
  const { spec } = model;
  const pair = tokensOf(model, clean, corrupt);
  const sites = [...new Set(opts.sites ?? DEFAULT_PATCH_SITES)];
  for (const s of sites) if (!HOOK_SITES.includes(s)) throw new InvalidInputError(`unknown hook site "${s}" (expected ${HOOK_SITES.join(', ')})`);
  if (sites.length === 0) throw new InvalidInputError('no hook sites to patch');
  const layers = [...new Set(opts.layers ?? Array.from({ length: spec.numLayers }, (_, l) => l))].sort((a, b) => a - b);
  if (layers.length === 0) throw new InvalidInputError('no layers to patch');
  const positions = resolvePositions(opts.positions, pair.clean.length);
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) throw new InvalidInputError(`batch size must be an integer from 1 to ${MAX_BATCH}, got ${batchSize}`);
  const points = sites.flatMap((site) => layers.map((layer) => checkPoint({ layer, site }, spec.numLayers)));

  const cleanRun = await captureClean(model, pair.clean, points);
  const corruptLogits = (await model.forward({ tokens: [pair.corrupt], logits: 'last' })).logits!;
  const target = opts.target === undefined ? argmax(cleanRun.logits) : checkToken(model, opts.target, 'target');
  const foil = opts.foil === undefined ? undefined : checkToken(model, opts.foil, 'foil');
  if (foil === target) throw new InvalidInputError(`the foil is the target token (${target}): the logit difference would always be 0`);
  const measure = (logits: Float32Array): number => (foil === undefined ? logits[target] - logSumExp(logits) : logits[target] - logits[foil]);
  const cleanMetric = measure(cleanRun.logits);
  const corruptMetric = measure(corruptLogits);

  const cells = points.flatMap((point) => positions.map((pos) => ({ point, pos })));
  const values = await patchedRuns(model, pair.corrupt, cleanRun.acts, cells.map((c) => [{ point: c.point, positions: [c.pos] }]), measure, batchSize, opts.onProgress);
  const span = cleanMetric - corruptMetric;
  const grid = (site: HookSite): PatchingSite => {
    const at = (l: number, p: number): number => values[(sites.indexOf(site) * layers.length + l) * positions.length + p];
    const value = layers.map((_, l) => positions.map((_, p) => at(l, p)));
    return { site, value, effect: value.map((row) => row.map((v) => (span === 0 ? null : (v - corruptMetric) / span))) };
  };
  const side = (ids: readonly number[], metric: number): RunSide => ({ ids, tokens: ids.map((id) => tokenString(model, id)), metric });
  return {
    metric: foil === undefined ? 'logprob' : 'logit_diff',
    target: { id: target, token: tokenString(model, target) },
    ...(foil === undefined ? {} : { foil: { id: foil, token: tokenString(model, foil) } }),
    clean: side(pair.clean, cleanMetric),
    corrupt: side(pair.corrupt, corruptMetric),
    layers,
    positions,
    sites: sites.map(grid),
  };
}

/**
 * A target or foil token given as text or as #ID. Text is first read as the continuation of
 * `prompt` (the tokens `prompt + text` adds; a leading space is tried too), then on its own
 * without the tokenizer's lone leading-space tokens, then as a vocabulary entry spelt exactly
 * so (or with a space before or after); it must come to one token.
 */
export function resolveToken(model: HookedModel, prompt: string, text: string, what: string): number {
  const id = /^#(\d+)$/.exec(text);
  if (id) return checkToken(model, Number(id[1]), what);
  if (text.trim() === '') throw new InvalidInputError(`${what} is empty: give a token's text or #ID`);
  const base = model.encode(prompt);
  const continuation = (t: string): number[] => {
    const all = model.encode(prompt + t);
    return all.slice(0, base.length).every((x, i) => x === base[i]) ? all.slice(base.length) : [];
  };
  const alone = model.tokenizer.encode(text);
  let drop = 0;
  while (drop < alone.length - 1 && model.tokenizer.decode([alone[drop]]).trim() === '') drop++;
  const readings = [continuation(text), ...(/^\s/.test(text) ? [] : [continuation(` ${text}`)]), alone.slice(drop)];
  const one = readings.find((ids) => ids.length === 1);
  if (one) return one[0];
  // Vocabularies whose tokens carry a trailing space ("and▁") spell the word only inside one.
  for (const spelling of [text, ` ${text}`, `${text} `, ` ${text} `]) {
    for (let v = 0; v < model.spec.vocabSize; v++) if (tokenString(model, v) === spelling) return v;
  }
  const ids = alone.slice(drop);
  throw new InvalidInputError(`${what} "${text}" is ${ids.length} tokens (${ids.map((i) => JSON.stringify(tokenString(model, i))).join(', ')}): give one token, or its id as #ID`);
}
