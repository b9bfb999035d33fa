/**
 * Passages of an activation index's texts that a direction reads highest and lowest: each run
 * of `span` consecutive tokens of one document scored by the mean projection of its centred
 * activations on the direction, the best non-overlapping runs kept.
 *
 * Why spans: a vector read as the mean over its texts' tokens (diffmean on `mean` / `all`
 * positions) describes passages, not tokens, and single rows nearest to it are dominated by a
 * few tokens whose activations are large along it whatever the text ("a«no»ther"). Scored the
 * way the vector was read, the top passages are the texts it separates. With span 1 this is
 * exact search by projection (inner product on the centred rows).
 *
 * Exact: one pass over the store (the projections in ONNX Runtime, chunk by chunk), then a
 * running sum per document in JS (O(rows)).
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../graph/onnx-builder.js';
import { computeSessionOptions, defaultThreads } from '../graph/session-options.js';
import { InvalidInputError } from '../io/errors.js';
import type { ActivationIndex } from './activation-index.js';
import { createSession } from '../graph/create-session.js';

export interface Passage {
  readonly doc: number;
  /** Token positions of the passage's first and last token in the document. */
  readonly from: number;
  readonly to: number;
  /** Mean projection of the passage's centred activations on the unit direction. */
  readonly score: number;
  /** The passage with up to `window` tokens each side. */
  readonly tokens: readonly string[];
  /** Index range [start, end) of the passage itself in `tokens`. */
  readonly start: number;
  readonly end: number;
}

export interface PassageOptions {
  /** Tokens per passage (default 8). */
  readonly span?: number;
  /** Passages per side (default 8). */
  readonly k?: number;
  /** Tokens shown each side of a passage (default 8). */
  readonly window?: number;
  readonly threads?: number;
}

const MAX_SPAN = 256;
const MAX_K = 1000;
const CHUNK_ROWS = 1 << 16;

let projector: Promise<ort.InferenceSession> | undefined;

/** X [n, d], mu [1, d], v [1, d] → (X − mu)·vᵀ [n, 1]. */
function projectionSession(threads: number): Promise<ort.InferenceSession> {
  if (!projector) {
    const g = new GraphBuilder('project_rows');
    const X = g.input('X', 'float32', ['n', 'd']);
    const mu = g.input('mu', 'float32', [1, 'd']);
    const v = g.input('v', 'float32', [1, 'd']);
    const centred = g.node('Sub', [X, mu], {}, 'centred');
    g.output(g.node('Gemm', [centred, v], { transB: { i: 1 } }, 'projection'), 'float32', ['n', 1]);
    projector = createSession(g.toBytes(), computeSessionOptions(threads));
    projector.catch(() => (projector = undefined));
  }
  return projector;
}

function bounded(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new InvalidInputError(`${name} must be an integer in 1..${max}, got ${v}`);
  return v;
}

/** Every row's projection on the unit direction, after the index's centring (its mean, or none). */
async function projections(index: ActivationIndex, direction: Float32Array, threads: number): Promise<Float32Array> {
  const D = index.dim;
  if (direction.length !== D) throw new InvalidInputError(`the direction has ${direction.length} values, the index's rows ${D}`);
  const norm = Math.hypot(...direction);
  if (!(norm > 0) || !Number.isFinite(norm)) throw new InvalidInputError('the direction is zero or not finite');
  const unit = direction.map((x) => x / norm);
  // Centred on the rows' mean whether or not the graph was: the mean dominates raw projections.
  const mu = new ort.Tensor('float32', index.rows.mean, [1, D]);
  const v = new ort.Tensor('float32', unit, [1, D]);
  const session = await projectionSession(threads);
  const out = new Float32Array(index.size);
  for await (const chunk of index.storeRows().chunks(CHUNK_ROWS)) {
    const n = chunk.data.length / D;
    const r = await session.run({ X: new ort.Tensor('float32', chunk.data, [n, D]), mu, v });
    out.set(r.projection.data as Float32Array, chunk.start);
  }
  return out;
}

/** The highest- and lowest-reading passages of the index's texts along `direction`. */
export async function passagesAlong(index: ActivationIndex, direction: Float32Array, opts: PassageOptions = {}): Promise<{ readonly highest: Passage[]; readonly lowest: Passage[] }> {
  const span = bounded('span', opts.span ?? 8, MAX_SPAN);
  const k = bounded('k', opts.k ?? 8, MAX_K);
  const window = opts.window ?? 8;
  if (!Number.isInteger(window) || window < 0 || window > MAX_SPAN) throw new InvalidInputError(`window must be an integer in 0..${MAX_SPAN}, got ${window}`);
  const proj = await projections(index, direction, opts.threads ?? defaultThreads());
  const { doc, pos } = index.rows;
  // ends[i] = last row of a full span (span consecutive positions of one document); means[i] its score.
  const ends: number[] = [];
  const means: number[] = [];
  let run = 0;
  let sum = 0;
  for (let r = 0; r < proj.length; r++) {
    const continues = r > 0 && doc[r] === doc[r - 1] && pos[r] === pos[r - 1] + 1;
    run = continues ? run + 1 : 1;
    sum = (continues ? sum : 0) + proj[r];
    if (run > span) sum -= proj[r - span];
    if (run >= span) {
      ends.push(r);
      means.push(sum / span);
    }
  }
  const order = ends.map((_, i) => i).sort((a, b) => means[b] - means[a] || ends[a] - ends[b]);
  const pick = (ranked: readonly number[]): Passage[] => {
    const taken: number[] = [];
    for (const i of ranked) {
      if (taken.length === k) break;
      // Overlapping spans of one document would show one passage k times.
      if (taken.some((j) => doc[ends[j]] === doc[ends[i]] && Math.abs(ends[j] - ends[i]) < span)) continue;
      taken.push(i);
    }
    return taken.map((i) => passage(index, ends[i] - span + 1, ends[i], means[i], window));
  };
  return { highest: pick(order), lowest: pick([...order].reverse()) };
}

function passage(index: ActivationIndex, first: number, last: number, score: number, window: number): Passage {
  const { doc, pos, token, tokenText } = index.rows;
  const d = doc[first];
  let a = first;
  while (a > 0 && first - a < window && doc[a - 1] === d && pos[a - 1] === pos[a] - 1) a--;
  let b = last;
  while (b + 1 < index.size && b - last < window && doc[b + 1] === d && pos[b + 1] === pos[b] + 1) b++;
  const tokens: string[] = [];
  for (let r = a; r <= b; r++) tokens.push(tokenText.get(token[r]) ?? '');
  return { doc: d, from: pos[first], to: pos[last], score, tokens, start: first - a, end: last - a + 1 };
}
