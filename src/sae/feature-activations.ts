/**
 * What an SAE's features do on one text: the active features at every token, or one
 * feature's activation along the text.
 */
import { hookName } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import type { HookedModel } from '../runtime/model.js';
import { saeRunnerFor } from './runner-cache.js';
import { checkFeature, checkSaeFitsModel, type Sae } from './sae.js';

export interface FeatureActivation {
  readonly feature: number;
  readonly activation: number;
}

export interface TokenFeatures {
  /** Index in the model's token ids (0 is BOS when the model prepends one). */
  readonly position: number;
  readonly token: string;
  readonly id: number;
  /** Active features (value > 0), largest first. */
  readonly features: readonly FeatureActivation[];
}

/** Dense codes are computed this many values at a time at most (16 MiB of float32). */
const DENSE_CHUNK_VALUES = 1 << 22;

/**
 * A single token's text for display. Decoding one id alone drops the dummy-prefix space of
 * SentencePiece pieces ("▁the" → "the") and the text of control tokens (BOS → ""), so those
 * are restored from the vocabulary entry.
 */
export function tokenString(model: HookedModel, id: number): string {
  const tok = model.tokenizer;
  let s = tok.decode([id]);
  const raw = tok.idToToken(id);
  if (raw !== undefined && raw.startsWith('▁') && !s.startsWith(' ')) s = ` ${s}`;
  return s === '' ? (raw ?? '') : s;
}

export function tokenStrings(model: HookedModel, ids: readonly number[]): string[] {
  return ids.map((id) => tokenString(model, id));
}

/** The hook point's activations for every token of `text` ([tokens, dIn]) and the token ids. */
async function captureText(model: HookedModel, sae: Sae, text: string): Promise<{ ids: number[]; acts: Float32Array }> {
  checkSaeFitsModel(sae, { ...model.spec, name: model.source.name });
  const ids = model.encode(text);
  if (ids.length === 0) throw new InvalidInputError('the text has no tokens');
  const out = await model.forward({ tokens: [ids], hooks: [{ kind: 'capture', at: sae.cfg.hook }], logits: 'none' });
  // One unpadded sequence: the capture is exactly [tokens, dIn].
  return { ids, acts: out.captures.get(hookName(sae.cfg.hook))!.data };
}

/** Every token of `text` with its `top` most active features (BOS row included). */
export async function encodeText(model: HookedModel, sae: Sae, text: string, opts: { top?: number } = {}): Promise<TokenFeatures[]> {
  const top = opts.top ?? 5;
  if (!Number.isInteger(top) || top < 1) throw new InvalidInputError(`top must be a positive integer, got ${top}`);
  const { ids, acts } = await captureText(model, sae, text);
  const codes = await saeRunnerFor(sae, model.threads).encodeSparse(acts, ids.length, Math.min(top, sae.cfg.dSae));
  const { m } = codes;
  return ids.map((id, r) => {
    const features: FeatureActivation[] = [];
    for (let j = 0; j < m; j++) {
      const activation = codes.values[r * m + j];
      if (activation <= 0) break; // sorted, largest first
      features.push({ feature: codes.indices[r * m + j], activation });
    }
    return { position: r, token: tokenString(model, id), id, features };
  });
}

/** One feature's activation at every token of `text` (exact for every SAE kind). */
export async function featureActivationsOnText(
  model: HookedModel,
  sae: Sae,
  text: string,
  feature: number,
): Promise<{ tokens: string[]; activations: Float32Array }> {
  checkFeature(sae, feature);
  const { ids, acts } = await captureText(model, sae, text);
  const { dIn, dSae } = sae.cfg;
  const runner = saeRunnerFor(sae, model.threads);
  const activations = new Float32Array(ids.length);
  const chunk = Math.max(1, Math.floor(DENSE_CHUNK_VALUES / dSae));
  for (let r0 = 0; r0 < ids.length; r0 += chunk) {
    const n = Math.min(chunk, ids.length - r0);
    const z = await runner.encodeDense(acts.subarray(r0 * dIn, (r0 + n) * dIn), n);
    for (let r = 0; r < n; r++) activations[r0 + r] = z[r * dSae + feature];
  }
  return { tokens: tokenStrings(model, ids), activations };
}
