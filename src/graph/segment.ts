import type { ByteRange, MappedMatrix, PackedMatrix } from '../model/packed-weights.js';
import type { ModelSpec } from '../model/spec.js';
import { ARCH_GRAPHS } from './archs/index.js';
import { norm, type LayerContext, type RunInputs } from './blocks.js';
import { hookName, isResidualSite, lastPointIndex, pointAt } from './hook-points.js';
import { GraphBuilder, int, type Dim } from './onnx-builder.js';

/**
 * Compiles one *segment* of the forward pass: the hook points (start, end] of the model,
 * optionally followed by the LM head. A forward with no JavaScript hooks is one segment;
 * each JavaScript hook splits the pass so that TypeScript can edit the value in between.
 * Interventions that are data (vectors, masks) are compiled in as graph ops instead, so
 * they cost no split.
 *
 * Value names seen by the runtime:
 *   inputs   resid.in [+ branch.in], attn_mask, position_ids, rope.cos, rope.sin,
 *            key_split, scores_groups_shape, scores_rows_shape,
 *            past.{l}.key/value [batch, kvHeads, slots, headDim] (the cache's buffers, in place),
 *            canonical weight names, iv.{point}.{k}.{param}, gate.{id}.in and gate_read
 *            (conditional steering: src/runtime/condition-gate.ts)
 *   outputs  new.{l}.key/value [batch, seq, kvHeads*headDim], blocks.{l}.hook_{site} (captures),
 *            resid.out [+ branch.out] (break), gate.{id}.out (a condition's gate), logits (with
 *            next_token [batch, 1] int64, their argmax, under head 'last') or
 *            target_logprobs (head 'targets', with an int64 input `targets` [batch, seq, 1]), final_hidden (head 'hidden'), or
 *            target_logprobs, reference_target_logprobs and kl (head 'kl', with `targets` and
 *            `reference_hidden` [batch, seq, hidden])
 */

/** A data-driven intervention that lives inside the graph. */
export interface GraphIntervention {
  /** Structural identity: equal keys compile to identical ops (values are fed per run). */
  readonly key: string;
  /**
   * Emits ops mapping x [batch, seq, D] to its replacement; `param` declares an input of this
   * intervention, `ctx` lets interventions of one graph share values (conditional steering).
   */
  emit(g: GraphBuilder, x: string, param: (name: string, dims: readonly Dim[]) => string, ctx: EmitContext): string;
}

/**
 * What interventions of one graph share: a condition read at one point publishes its gate, and
 * interventions at later points of the same graph use it; where the gate was computed elsewhere
 * (an earlier segment, step or pass) they declare it as an input the runtime feeds by name.
 */
interface EmitContext {
  /** A value an earlier intervention of this graph shared under `name`. */
  shared(name: string): string | undefined;
  share(name: string, value: string): void;
  /** A graph input fed by the runtime under this exact name (not per intervention). */
  input(name: string, dims: readonly Dim[]): string;
  /** Returns `value` from the graph as output `name`. */
  output(name: string, value: string, dims: readonly Dim[]): void;
}

/**
 * What the LM head returns: nothing, the last position's logits, every position's logits,
 * ('targets') only log p(target) at every position: log-softmax and the gather of the target
 * ids run in the graph, so a scoring pass ships batch × seq numbers out of ONNX Runtime
 * instead of batch × seq × vocab; ('hidden') the final normed hidden states, batch × seq ×
 * hidden, a reference run's input to ('kl'): the targets' log-probs under both runs and
 * KL(this run ‖ reference) at every position, both distributions computed in the graph.
 */
export type HeadMode = 'none' | 'last' | 'all' | 'targets' | 'hidden' | 'kl';

export interface SegmentPlan {
  /** Point index whose value (after its hooks) is this segment's input; -1 = the embeddings. */
  readonly start: number;
  /** Last point computed. */
  readonly end: number;
  /** Produce logits after the last point (`end` must then be the model's last point). */
  readonly head: HeadMode;
  /** Return the end point's state for a JavaScript hook. */
  readonly breakAtEnd: boolean;
  readonly interventions: ReadonlyMap<number, readonly GraphIntervention[]>;
  readonly captures: ReadonlySet<number>;
}

export interface CompiledSegment {
  readonly bytes: Uint8Array;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
}

export const interventionParamName = (point: number, k: number, name: string): string => `iv.${point}.${k}.${name}`;

/**
 * How a weight reaches the graph: float32 as a graph input fed from JavaScript (one copy shared
 * by every compiled plan), or as initializers that ONNX Runtime reads from the file `location`
 * (relative to the graph file): block-quantized in the packed weights file, or float32 [out, in]
 * rows in place in the source model file ('mapped'; ONNX Runtime maps them, so every session
 * shares the same pages).
 */
export type WeightSource =
  | { readonly kind: 'input'; readonly shape: readonly number[] }
  | { readonly kind: 'packed'; readonly matrix: PackedMatrix; readonly location: string }
  | { readonly kind: 'mapped'; readonly matrix: MappedMatrix; readonly location: string };

/**
 * MatMulNBits' accuracy level 4: activations are quantized to int8 per block for integer dot
 * products, as llama.cpp quantizes them to q8_0 for its quantized types. Measured here: it tracks
 * llama.cpp's quantized logits more closely than float32 compute does (bench/parity-quantized.ts),
 * is 1.25× faster at 4 bits, and 8-bit weights have no fast float32 path at all (1.6 tok/s).
 */
const NBITS_ACCURACY = 4;

export function compileSegment(
  spec: ModelSpec,
  weightSource: (name: string) => WeightSource | undefined,
  plan: SegmentPlan,
): CompiledSegment {
  const arch = ARCH_GRAPHS[spec.family];
  const g = new GraphBuilder(`steerer_${spec.architecture}_${plan.start + 1}_${plan.end}_${plan.head}`);
  const D = spec.hiddenSize;
  const act: Dim[] = ['batch', 'seq', D];
  const run = lazyRunInputs(g, spec);

  const weight = (name: string): string => {
    const src = weightSource(name);
    if (!src) throw new Error(`model has no tensor ${name}`);
    if (src.kind !== 'input') throw new Error(`${name} is read from a file by ONNX Runtime: only a matmul can use it`);
    return g.input(name, 'float32', src.shape);
  };
  const matmul = (x: string, name: string, outName: string): string => {
    const src = weightSource(name);
    if (!src) throw new Error(`model has no tensor ${name}`);
    if (src.kind === 'input') return g.node('MatMul', [x, g.input(name, 'float32', src.shape)], {}, outName);
    if (src.kind === 'mapped') {
      const f = src.matrix;
      const w = g.externalInitializer(`${name}.rows`, 'float32', [f.out, f.in], src.location, f.offset, f.length);
      const y = g.msNode('FusedMatMul', [x, w], { transB: int(1) }, f.perm ? `${outName}.stored_order` : outName);
      return f.perm ? g.node('Gather', [y, g.constInt64(f.perm)], { axis: int(-1) }, outName) : y;
    }
    return packedMatmul(x, name, src.matrix, src.location, outName);
  };
  const packedMatmul = (x: string, name: string, m: PackedMatrix, location: string, outName: string): string => {
    const kb = m.in / 32;
    const scales = g.externalInitializer(`${name}.scales`, 'float32', [m.out * kb], location, m.scales.offset, m.scales.length);
    const inputs = [x, g.externalInitializer(`${name}.q`, 'uint8', [m.out, kb, (32 * m.bits) / 8], location, m.q.offset, m.q.length), scales];
    const attrs = { K: int(m.in), N: int(m.out), bits: int(m.bits), block_size: int(32), accuracy_level: int(NBITS_ACCURACY) };
    if (!m.zeroPoints) return g.msNode('MatMulNBits', inputs, attrs, outName);
    // Float zero points (Q4_K's block minimums) would send MatMulNBits to its slow path, which
    // dequantizes the whole matrix on every call (8 s a token for a 1B model). So the product
    // runs with the default zero point and a correction: x·((q − z)·s) = x·((q − z₀)·s) +
    // Σ_blocks (Σ_block x)·(z₀ − z)·s, the second a small float32 matmul [K/32, N] that ONNX
    // Runtime folds from the initializers once.
    const defaultZero = 2 ** (m.bits - 1);
    const zeros = g.externalInitializer(`${name}.zeros`, 'float32', [m.out, kb], location, m.zeroPoints.offset, m.zeroPoints.length);
    const perBlock = g.node('Mul', [g.node('Reshape', [scales, g.constInt64([m.out, kb])], {}, `${name}.scales_rows`), g.node('Sub', [g.constFloat([defaultZero]), zeros], {}, `${name}.zero_shift`)], {}, `${name}.block_shift_rows`);
    const correction = g.node('Transpose', [perBlock], { perm: { ints: [1, 0] } }, `${name}.block_shift`);
    const shifted = g.node('MatMul', [blockSums(x, m.in), correction], {}, `${outName}.zero_correction`);
    return g.node('Add', [g.msNode('MatMulNBits', inputs, attrs, `${outName}.default_zero`), shifted], {}, outName);
  };
  /**
   * x @ W for several weights: one MatMulNBits over all their rows, its output split, where the
   * packed cache stores them side by side (../model/packed-layout.ts); else a product each.
   */
  const matmuls = (x: string, names: readonly string[], outNames: readonly string[], joinedName: string): string[] => {
    const joined = joinedMatrix(names.map(weightSource));
    if (!joined) return names.map((name, i) => matmul(x, name, outNames[i]));
    const y = packedMatmul(x, joinedName, joined.matrix, joined.location, joinedName);
    return g.nodeMulti('Split', [y, g.constInt64(joined.parts)], { axis: int(-1) }, outNames);
  };
  // Σ over each block of 32 inputs, [batch, seq, K/32]: once per value however many matrices read it.
  const blockSumsOf = new Map<string, string>();
  const blockSums = (x: string, K: number): string => {
    let sums = blockSumsOf.get(x);
    if (!sums) {
      const blocks = g.node('Reshape', [x, g.constInt64([0, 0, K / 32, 32])], {}, `${x}.blocks`);
      sums = g.node('ReduceSum', [blocks, g.constInt64([-1])], { keepdims: int(0) }, `${x}.block_sums`);
      blockSumsOf.set(x, sums);
    }
    return sums;
  };
  const ctx = (layer: number): LayerContext => ({
    g,
    spec,
    layer,
    run,
    weight,
    maybeWeight: (name) => (weightSource(name) ? weight(name) : undefined),
    matmul,
    matmuls,
    kvCache: (key, value) => {
      const width = spec.numKvHeads * spec.headDim;
      const fresh = (kind: 'key' | 'value', x: string): string => g.output(g.rename(x, `new.${layer}.${kind}`), 'float32', ['batch', 'seq', width]);
      const past = (kind: 'key' | 'value'): string => g.input(`past.${layer}.${kind}`, 'float32', ['batch', spec.numKvHeads, 'slots', spec.headDim]);
      return { keys: fresh('key', key), values: fresh('value', value), pastKeys: past('key'), pastValues: past('value') };
    },
  });

  const sharedValues = new Map<string, string>();
  const emitContext: EmitContext = {
    shared: (name) => sharedValues.get(name),
    share: (name, value) => void sharedValues.set(name, value),
    input: (name, dims) => g.input(name, 'float32', dims),
    output: (name, value, dims) => void g.output(value, 'float32', dims, name),
  };

  let resid = '';
  let base = '';
  let branch = '';
  if (plan.start >= 0 && !isResidualSite(pointAt(plan.start).site)) {
    base = g.input('resid.in', 'float32', act);
    branch = g.input('branch.in', 'float32', act);
  } else {
    resid = g.input('resid.in', 'float32', act);
  }

  for (let idx = plan.start + 1; idx <= plan.end; idx++) {
    const { layer, site } = pointAt(idx);
    const c = ctx(layer);
    let value: string;
    switch (site) {
      case 'resid_pre':
        value = resid;
        break;
      case 'attn_out':
        base = resid;
        value = arch.attentionBranch(c, base);
        break;
      case 'mlp_out':
        base = resid;
        value = arch.mlpBranch(c, base);
        break;
      case 'resid_mid':
      case 'resid_post':
        value = g.node('Add', [base, branch], {}, `blk.${layer}.${site}`);
        break;
    }
    (plan.interventions.get(idx) ?? []).forEach((iv, k) => {
      value = iv.emit(g, value, (name, dims) => g.input(interventionParamName(idx, k, name), 'float32', dims), emitContext);
    });
    if (isResidualSite(site)) resid = value;
    else branch = value;
    if (plan.captures.has(idx)) g.output(value, 'float32', act, hookName({ layer, site }));
  }

  if (plan.breakAtEnd) {
    const endSite = pointAt(plan.end).site;
    if (isResidualSite(endSite)) g.output(resid, 'float32', act, 'resid.out');
    else {
      g.output(base, 'float32', act, 'resid.out');
      g.output(branch, 'float32', act, 'branch.out');
    }
  }

  if (plan.head !== 'none') {
    if (plan.end !== lastPointIndex(spec.numLayers)) throw new Error('the LM head can only follow the last layer');
    const c = ctx(spec.numLayers);
    let x = resid;
    if (plan.head === 'last') {
      // Prompts are left-padded, so the last position is a real token in every row.
      x = g.node('Slice', [x, g.constInt64([-1]), g.constInt64([2 ** 62]), g.constInt64([1])], {}, 'head.last');
    }
    const normed = norm(c, x, 'output_norm');
    if (plan.head === 'hidden') {
      g.output(normed, 'float32', act, 'final_hidden');
    } else {
      const logitsOf = (h: string, name: string): string => {
        const logits = matmul(h, 'output.weight', name);
        const bias = c.maybeWeight('output.bias');
        return bias ? g.node('Add', [logits, bias], {}, `${name}.biased`) : logits;
      };
      const logits = logitsOf(normed, 'head.logits');
      if (plan.head === 'targets' || plan.head === 'kl') {
        const targets = g.input('targets', 'int64', ['batch', 'seq', 1]);
        const pick = (lp: string, name: string): void => {
          g.output(g.node('GatherElements', [lp, targets], { axis: int(-1) }, `head.${name}`), 'float32', ['batch', 'seq', 1], name);
        };
        const logprobs = g.node('LogSoftmax', [logits], { axis: int(-1) }, 'head.logprobs');
        pick(logprobs, 'target_logprobs');
        if (plan.head === 'kl') {
          const reference = g.input('reference_hidden', 'float32', act);
          const refLogprobs = g.node('LogSoftmax', [logitsOf(reference, 'head.reference_logits')], { axis: int(-1) }, 'head.reference_logprobs');
          pick(refLogprobs, 'reference_target_logprobs');
          // KL(p ‖ q) = Σ p (log p − log q), over the vocabulary.
          const terms = g.node('Mul', [g.node('Exp', [logprobs], {}, 'head.probs'), g.node('Sub', [logprobs, refLogprobs], {}, 'head.log_ratio')], {}, 'head.kl_terms');
          g.output(g.node('ReduceSum', [terms, g.constInt64([-1])], { keepdims: int(0) }, 'head.kl'), 'float32', ['batch', 'seq'], 'kl');
        }
      } else {
        g.output(logits, 'float32', ['batch', 'rows', spec.vocabSize], 'logits');
        // Greedy decoding fetches this alone: one id per row leaves ONNX Runtime instead of a
        // vocabulary of floats (a new buffer every step, garbage until V8 collects it).
        // ArgMax picks the first of equal maxima, the lowest id, as the sampler's argmax does.
        if (plan.head === 'last') g.output(g.node('ArgMax', [logits], { axis: int(-1), keepdims: int(0) }, 'head.argmax'), 'int64', ['batch', 1], 'next_token');
      }
    }
  }

  return { bytes: g.toBytes(), inputNames: g.inputNames, outputNames: g.outputNames };
}

/** Per-run inputs, declared only when a segment actually uses them. */
function lazyRunInputs(g: GraphBuilder, spec: ModelSpec): RunInputs {
  const half = spec.rope ? spec.rope.dim / 2 : 0;
  return {
    get attnMask() {
      return g.input('attn_mask', 'float32', ['batch', 1, 1, 'seq', 'total']);
    },
    get keySplit() {
      return g.input('key_split', 'int64', [2]);
    },
    get groupShape() {
      return g.input('scores_groups_shape', 'int64', [5]);
    },
    get rowShape() {
      return g.input('scores_rows_shape', 'int64', [4]);
    },
    get positionIds() {
      return spec.positions === 'rope' ? g.input('position_ids', 'int64', ['batch', 'seq']) : undefined;
    },
    get ropeCos() {
      return spec.positions === 'rope' ? g.input('rope.cos', 'float32', ['rope_len', half]) : undefined;
    },
    get ropeSin() {
      return spec.positions === 'rope' ? g.input('rope.sin', 'float32', ['rope_len', half]) : undefined;
    },
  };
}

/**
 * Packed matrices of one file whose regions follow each other (rows of the next after the last
 * row of the one before), as one matrix of all their rows; undefined for anything else.
 */
function joinedMatrix(sources: readonly (WeightSource | undefined)[]): { matrix: PackedMatrix; location: string; parts: number[] } | undefined {
  const packed = sources.flatMap((s) => (s?.kind === 'packed' ? [s] : []));
  if (packed.length < 2 || packed.length !== sources.length) return undefined;
  const [first] = packed;
  const a = first.matrix;
  const follows = (r: ByteRange | undefined, before: ByteRange | undefined): boolean => r?.offset === (before ? before.offset + before.length : undefined);
  for (let i = 1; i < packed.length; i++) {
    const m = packed[i].matrix;
    const p = packed[i - 1].matrix;
    if (packed[i].location !== first.location || m.in !== a.in || m.bits !== a.bits || !!m.zeroPoints !== !!a.zeroPoints) return undefined;
    if (!follows(m.q, p.q) || !follows(m.scales, p.scales) || (m.zeroPoints && !follows(m.zeroPoints, p.zeroPoints))) return undefined;
  }
  const span = (pick: (m: PackedMatrix) => ByteRange | undefined): ByteRange | undefined => {
    const start = pick(a);
    return start && { offset: start.offset, length: packed.reduce((n, s) => n + pick(s.matrix)!.length, 0) };
  };
  const zeroPoints = span((m) => m.zeroPoints);
  return {
    matrix: {
      ...a,
      out: packed.reduce((n, s) => n + s.matrix.out, 0),
      exact: packed.every((s) => s.matrix.exact),
      q: span((m) => m.q)!,
      scales: span((m) => m.scales)!,
      ...(zeroPoints ? { zeroPoints } : {}),
    },
    location: first.location,
    parts: packed.map((s) => s.matrix.out),
  };
}
