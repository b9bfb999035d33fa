import { InvalidInputError } from '../io/errors.js';
import { hookName, type HookPoint } from '../graph/hook-points.js';
import type { HookedModel } from '../runtime/model.js';
import { headTopTokens } from '../runtime/unembed.js';
import { tokenString } from '../sae/feature-activations.js';

/**
 * The logit lens of a text (nostalgebraist 2020; TransformerLens' accumulated residual decoded
 * with the final norm): each layer's residual stream at each position, put through the model's
 * own final norm and unembedding as if the remaining layers were skipped. The last layer's row
 * is the model's actual next-token distribution.
 */

/** Tokens one lens lists at most (rows × positions × top). */
const MAX_CELLS = 1 << 22;

export interface LensOptions {
  /** Token indices to decode (BOS, when there is one, is 0; negative counts from the end). Default: every token. */
  readonly positions?: readonly number[];
  /** Tokens per cell (default 5). */
  readonly top?: number;
  /** Layers whose resid_post is decoded (default: all). */
  readonly layers?: readonly number[];
  /** Also decode the embeddings (blocks.0.hook_resid_pre) as the first row (default true). */
  readonly embeddings?: boolean;
}

export interface LensToken {
  readonly id: number;
  readonly token: string;
  readonly prob: number;
  readonly logit: number;
}

export interface LensRow {
  /** "embed" or "layer N". */
  readonly label: string;
  readonly hook: string;
  /** Top tokens per selected position, most likely first. */
  readonly cells: readonly (readonly LensToken[])[];
}

export interface LogitLens {
  readonly tokens: readonly { readonly id: number; readonly token: string }[];
  /** The decoded token indices, in order. */
  readonly positions: readonly number[];
  readonly rows: readonly LensRow[];
}

/** Checks token indices against a text of `length` tokens; negative ones count from the end. */
export function resolvePositions(positions: readonly number[] | undefined, length: number): number[] {
  if (positions === undefined) return Array.from({ length }, (_, i) => i);
  if (positions.length === 0) throw new InvalidInputError('no positions given');
  const out = positions.map((p) => {
    const abs = p < 0 ? length + p : p;
    if (!Number.isInteger(p) || abs < 0 || abs >= length) throw new InvalidInputError(`position ${p} is outside the text's ${length} tokens (0..${length - 1}, or -1 for the last)`);
    return abs;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

export async function logitLens(model: HookedModel, text: string | readonly number[], opts: LensOptions = {}): Promise<LogitLens> {
  const { spec } = model;
  const ids = typeof text === 'string' ? model.encode(text) : [...text];
  if (ids.length === 0) throw new InvalidInputError('the text has no tokens');
  const positions = resolvePositions(opts.positions, ids.length);
  const top = opts.top ?? 5;
  if (!Number.isInteger(top) || top < 1) throw new InvalidInputError(`top must be a positive integer, got ${top}`);
  const layers = [...new Set(opts.layers ?? Array.from({ length: spec.numLayers }, (_, l) => l))].sort((a, b) => a - b);
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= spec.numLayers) throw new InvalidInputError(`layer ${l} does not exist: the model has layers 0..${spec.numLayers - 1}`);
  }
  const points: { label: string; point: HookPoint }[] = [
    ...(opts.embeddings === false ? [] : [{ label: 'embed', point: { layer: 0, site: 'resid_pre' } as const }]),
    ...layers.map((layer) => ({ label: `layer ${layer}`, point: { layer, site: 'resid_post' } as const })),
  ];
  if (points.length === 0) throw new InvalidInputError('nothing to decode: no layers and no embeddings');
  const cells = points.length * positions.length * Math.min(top, spec.vocabSize);
  if (cells > MAX_CELLS) throw new InvalidInputError(`${points.length} layers × ${positions.length} positions × top ${top} is ${cells} tokens, over the ${MAX_CELLS} a lens lists: ask for fewer`);

  const out = await model.forward({ tokens: [ids], hooks: points.map(({ point }) => ({ kind: 'capture', at: point })), logits: 'none' });
  const D = spec.hiddenSize;
  const P = positions.length;
  const rows = new Float32Array(points.length * P * D);
  points.forEach(({ point }, r) => {
    const act = out.captures.get(hookName(point))!.data;
    positions.forEach((p, j) => rows.set(act.subarray(p * D, (p + 1) * D), (r * P + j) * D));
  });
  const head = await headTopTokens(model, rows, points.length * P, top);
  const { k } = head;
  return {
    tokens: ids.map((id) => ({ id, token: tokenString(model, id) })),
    positions,
    rows: points.map(({ label, point }, r) => ({
      label,
      hook: hookName(point),
      cells: positions.map((_, j) =>
        Array.from({ length: k }, (_, t) => {
          const i = (r * P + j) * k + t;
          return { id: head.ids[i], token: tokenString(model, head.ids[i]), prob: Math.exp(head.logprobs[i]), logit: head.values[i] };
        }),
      ),
    })),
  };
}
