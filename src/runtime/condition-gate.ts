import { InvalidInputError } from '../io/errors.js';
import { int, type GraphBuilder } from '../graph/onnx-builder.js';
import type { GraphIntervention } from '../graph/segment.js';
import type { ConditionRead, Intervention, ParamValue } from './hooks.js';

/**
 * Conditional steering inside the graph (after Lee et al., "Programming Refusal with
 * Conditional Activation Steering", 2024). A *reader* at one hook point scores each sequence's
 * activation with a linear read-out, s = a·x + b (a condition direction, or a probe), optionally
 * as a cosine (a·x / |x|), compares it with a threshold, and publishes a 0/1 gate per row; a
 * *gated* intervention keeps its own result where the gate is 1 and the untouched activation
 * elsewhere (ONNX Where: both sides stay bit-identical). A batch whose rows decide differently
 * costs one forward.
 *
 * Reading on the prompt, the gate is computed in the first forward on a cache (from the last
 * prompt token, or the mean over the prompt's tokens), returned as `gate.{id}.out` and held by
 * the KV cache for every later step, where it comes back in as `gate.{id}.in`. The graph input
 * `gate_read` [1] is 1 in the forward that reads it and 0 elsewhere; a gated intervention at a
 * point the reader has not reached in its graph uses the `gate.{id}.in` value (the runtime makes
 * that the prompt's gate with a pre-pass, see HookedModel.forward).
 *
 * Reading per token, every row gets its own gate from its own activation; reading the running
 * mean, every row's gate compares the mean score of its sequence's tokens up to and including
 * it (a cumulative sum in the graph, continued across steps from the sum and count the KV cache
 * holds: `gate.{id}.sum/count.in` in, `.out` out). Either way gated interventions must come
 * after the reader in the forward pass.
 */

/** ONNX's element type code for bool. */
const BOOL = 9;

interface ConditionReadout {
  /** A unique name among the conditions of one set of hooks. */
  readonly id: string;
  readonly read: ConditionRead;
  /** Prompt conditions: the last token's activation or the mean over the prompt's tokens. */
  readonly reduce: 'last' | 'mean';
  /** The read-out: s = weight·x + bias, or (cosine) weight·x / |x| with a unit weight. */
  readonly weight: Float32Array;
  readonly bias: number;
  readonly measure: 'cosine' | 'linear';
  readonly threshold: number;
  /** The condition holds when s is above (or below) the threshold. */
  readonly compare: 'above' | 'below';
}

/** Dims of a gate: one per sequence (prompt) or one per token. */
const gateDims = (read: ConditionRead): readonly (string | number)[] => (read === 'prompt' ? ['batch', 1, 1] : ['batch', 'seq', 1]);

/** The running mean's state, held per sequence between steps: the sum of scores and the token count. */
export const RUNNING_STATE = ['sum', 'count'] as const;

/** What interventions of one graph share (see GraphIntervention.emit). */
type EmitContext = Parameters<GraphIntervention['emit']>[3];

/** The reader: passes x through unchanged, publishing and returning the condition's gate. */
export function conditionReader(c: ConditionReadout): Intervention {
  const D = c.weight.length;
  for (const v of [...c.weight, c.bias, c.threshold]) {
    if (!Number.isFinite(v)) throw new InvalidInputError(`condition ${c.id}: its read-out has a non-finite value`);
  }
  const dims = gateDims(c.read);
  return {
    key: `when_read(${c.id},${c.read},${c.read === 'prompt' ? c.reduce : ''},${c.measure},${c.compare})`,
    dim: D,
    condition: { role: 'reader', id: c.id, read: c.read },
    emit(g, x, param, ctx) {
      let src = x;
      if (c.read === 'prompt' && c.reduce === 'last') {
        // Prompts are left-padded, so the last row of each sequence is its last prompt token.
        src = g.node('Slice', [x, g.constInt64([-1]), g.constInt64([2 ** 62]), g.constInt64([1])], {}, 'when.last');
      } else if (c.read === 'prompt') {
        const valid = param('valid', ['batch', 'seq', 1]);
        const sum = g.node('ReduceSum', [g.node('Mul', [x, valid], {}, 'when.valid_rows'), g.constInt64([1])], { keepdims: int(1) }, 'when.sum');
        const count = g.node('ReduceSum', [valid, g.constInt64([1])], { keepdims: int(1) }, 'when.count');
        src = g.node('Div', [sum, g.node('Max', [count, g.constFloat([1], [1])], {}, 'when.count_safe')], {}, 'when.mean');
      }
      const column = g.node('Unsqueeze', [param('weight', [D]), g.constInt64([1])], {}, 'when.weight_col');
      let score = g.node('Add', [g.node('MatMul', [src, column], {}, 'when.dot'), param('bias', [1])], {}, 'when.score');
      if (c.measure === 'cosine') {
        const norm = g.node('ReduceL2', [src, g.constInt64([-1])], { keepdims: int(1) }, 'when.norm');
        score = g.node('Div', [score, g.node('Max', [norm, g.constFloat([1e-12], [1])], {}, 'when.norm_safe')], {}, 'when.cosine');
      }
      if (c.read === 'running') score = runningMean(g, score, param('valid', ['batch', 'seq', 1]), c.id, ctx);
      const holds = g.node(c.compare === 'above' ? 'Greater' : 'Less', [score, param('threshold', [1])], {}, 'when.holds');
      let gate = g.node('Cast', [holds], { to: int(1) }, 'when.fresh');
      if (c.read === 'prompt') {
        // Read in the prompt's forward, held from the cache in every other.
        const reading = g.node('Cast', [ctx.input('gate_read', [1])], { to: int(BOOL) }, 'when.reading');
        gate = g.node('Where', [reading, gate, ctx.input(`gate.${c.id}.in`, dims)], {}, 'when.gate');
      }
      ctx.share(`gate.${c.id}`, gate);
      ctx.output(`gate.${c.id}.out`, gate, dims);
      return x;
    },
    params(step) {
      const p: Record<string, ParamValue> = {
        weight: { data: c.weight, dims: [D] },
        bias: { data: Float32Array.of(c.bias), dims: [1] },
        threshold: { data: Float32Array.of(c.threshold), dims: [1] },
      };
      if ((c.read === 'prompt' && c.reduce === 'mean') || c.read === 'running') {
        const valid = new Float32Array(step.positions.length);
        for (let r = 0; r < valid.length; r++) valid[r] = step.positions[r] >= 0 ? 1 : 0;
        p.valid = { data: valid, dims: [step.batch, step.seq, 1] };
      }
      return p;
    },
  };
}

/**
 * Per row, the mean score over its sequence's real tokens up to and including it: the held sum
 * and count (earlier steps) plus cumulative sums over this step's rows. Returns the means and
 * outputs the new sum and count (the last row's) for the cache.
 */
function runningMean(g: GraphBuilder, score: string, valid: string, id: string, ctx: EmitContext): string {
  const seqAxis = g.constInt64([1], []);
  const held = (what: string): string => ctx.input(`gate.${id}.${what}.in`, ['batch', 1, 1]);
  const sum = g.node('Add', [g.node('CumSum', [g.node('Mul', [score, valid], {}, 'when.valid_score'), seqAxis], {}, 'when.cum_score'), held('sum')], {}, 'when.run_sum');
  const count = g.node('Add', [g.node('CumSum', [valid, seqAxis], {}, 'when.cum_count'), held('count')], {}, 'when.run_count');
  const last = (x: string, name: string): string => g.node('Slice', [x, g.constInt64([-1]), g.constInt64([2 ** 62]), g.constInt64([1])], {}, name);
  ctx.output(`gate.${id}.sum.out`, last(sum, 'when.sum_last'), ['batch', 1, 1]);
  ctx.output(`gate.${id}.count.out`, last(count, 'when.count_last'), ['batch', 1, 1]);
  return g.node('Div', [sum, g.node('Max', [count, g.constFloat([1], [1])], {}, 'when.count_safe')], {}, 'when.run_mean');
}

/** `inner`, applied only to the rows where condition `id` holds. */
export function gatedIntervention(inner: Intervention, id: string, read: ConditionRead): Intervention {
  if (inner.condition) throw new InvalidInputError(`an intervention can be gated by one condition only (${id})`);
  return {
    key: `when(${id})[${inner.key}]`,
    dim: inner.dim,
    condition: { role: 'gated', id, read },
    ...(inner.prepare ? { prepare: (ctx) => inner.prepare!(ctx) } : {}),
    emit(g, x, param, ctx) {
      const y = inner.emit(g, x, param, ctx);
      const gate = ctx.shared(`gate.${id}`) ?? ctx.input(`gate.${id}.in`, gateDims(read));
      const on = g.node('Greater', [gate, g.constFloat([0.5], [1])], {}, 'when.on');
      return g.node('Where', [on, y, x], {}, 'when.out');
    },
    params: (step) => inner.params(step),
  };
}
