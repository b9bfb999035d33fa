import type { GraphBuilder } from '../graph/onnx-builder.js';
import type { SaeActivation } from './sae.js';

/**
 * ONNX pieces of an SAE, emitted into any GraphBuilder: a standalone encode/decode graph, the
 * training step, or the model's own forward graph (splicing, clamping). Shapes are [..., dIn]
 * so the same ops serve [rows, dIn] batches and [batch, seq, dIn] activations.
 */

export interface SaeParamNames {
  readonly wEnc: string;
  readonly bEnc: string;
  readonly wDec: string;
  readonly bDec: string;
  readonly threshold?: string;
  /** [1] input scale (omit for 1). */
  readonly scale?: string;
}

interface SaeShape {
  readonly activation: SaeActivation;
  readonly applyBDecToInput: boolean;
}

interface EncodedValues {
  /** The encoder's input after scaling and centring. */
  readonly centred: string;
  readonly pre: string;
  /** Dense latents [..., dSae]. */
  readonly z: string;
}

/** pre = (x·s − b_dec) W_enc + b_enc, then the activation; z dense. */
export function emitEncode(g: GraphBuilder, x: string, p: SaeParamNames, shape: SaeShape, prefix = 'sae'): EncodedValues {
  const scaled = p.scale ? g.node('Mul', [x, p.scale], {}, `${prefix}.x_scaled`) : x;
  const centred = shape.applyBDecToInput ? g.node('Sub', [scaled, p.bDec], {}, `${prefix}.x_centred`) : scaled;
  const pre = g.node('Add', [g.node('MatMul', [centred, p.wEnc], {}, `${prefix}.enc`), p.bEnc], {}, `${prefix}.pre`);
  let z: string;
  switch (shape.activation.kind) {
    case 'relu':
      z = g.node('Relu', [pre], {}, `${prefix}.z`);
      break;
    case 'jumprelu': {
      if (!p.threshold) throw new Error('a JumpReLU SAE needs its threshold input');
      const open = g.node('Cast', [g.node('Greater', [pre, p.threshold], {}, `${prefix}.above`)], { to: { i: 1 } }, `${prefix}.gate`);
      z = g.node('Mul', [pre, open], {}, `${prefix}.z`);
      break;
    }
    case 'topk':
      z = emitTopKDense(g, g.node('Relu', [pre], {}, `${prefix}.relu`), shape.activation.k, `${prefix}.z`);
      break;
  }
  return { centred, pre, z };
}

/** Keeps the k largest entries of the last axis, zeros elsewhere (exactly k, ties by index). */
function emitTopKDense(g: GraphBuilder, values: string, k: number, name: string): string {
  const [top, idx] = g.nodeMulti('TopK', [values, g.constInt64([k])], { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 0 } }, [`${name}.top`, `${name}.idx`]);
  const zeros = g.node('ConstantOfShape', [g.node('Shape', [values], {}, `${name}.shape`)], {}, `${name}.zeros`);
  return g.node('ScatterElements', [zeros, idx, top], { axis: { i: -1 } }, name);
}

/** x̂ = (z W_dec + b_dec) / s. */
export function emitDecode(g: GraphBuilder, z: string, p: SaeParamNames, prefix = 'sae'): string {
  const out = g.node('Add', [g.node('MatMul', [z, p.wDec], {}, `${prefix}.dec`), p.bDec], {}, `${prefix}.recon_scaled`);
  return p.scale ? g.node('Div', [out, p.scale], {}, `${prefix}.recon`) : out;
}

/** Declares the SAE's weights as graph inputs under `prefix`. */
export function declareSaeInputs(g: GraphBuilder, dIn: number, dSae: number, activation: SaeActivation, prefix = 'sae', withScale = true): SaeParamNames {
  return {
    wEnc: g.input(`${prefix}.W_enc`, 'float32', [dIn, dSae]),
    bEnc: g.input(`${prefix}.b_enc`, 'float32', [dSae]),
    wDec: g.input(`${prefix}.W_dec`, 'float32', [dSae, dIn]),
    bDec: g.input(`${prefix}.b_dec`, 'float32', [dIn]),
    threshold: activation.kind === 'jumprelu' ? g.input(`${prefix}.threshold`, 'float32', [dSae]) : undefined,
    scale: withScale ? g.input(`${prefix}.scale`, 'float32', [1]) : undefined,
  };
}

const f32 = { to: { i: 1 } } as const;

interface TrainGraphOptions {
  readonly dIn: number;
  readonly dSae: number;
  readonly k: number;
  /** Latents the auxiliary loss may use per token (dead ones only); 0 = no auxiliary loss. */
  readonly kAux: number;
  readonly applyBDecToInput: boolean;
  /** Also output the raw gradients of the loss (tests check them by finite differences). */
  readonly withGrads?: boolean;
}

/** Parameter order of the training graph's inputs and outputs. */
export const TRAIN_PARAMS = ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const;
export type TrainParam = (typeof TRAIN_PARAMS)[number];

/**
 * One Adam step of a TopK SAE as a single graph: forward, the hand-derived backward pass and the
 * update, so the weights never round-trip through JavaScript arithmetic.
 *
 * Loss (per batch, x̃ = x·s scaled input):
 *   fvu  = Σ(x̂ − x̃)² / Σ(x̃ − mean x̃)²
 *   aux  = auxScale · Σ(ê − (x̃ − x̂))² / Σ(x̃ − mean x̃)²      (AuxK, Gao et al. 2024)
 * where ê decodes (without b_dec) the kAux largest latents among the dead ones, predicting the
 * main reconstruction's residual, which is treated as a constant. auxScale carries the AuxK
 * coefficient and is 0 when no latent is dead.
 *
 * Backward, with G = 2(x̂ − x̃)/SST and m = [z > 0] (the selected, active latents):
 *   ∂W_dec = zᵀG      ∂z = G W_decᵀ      ∂pre = ∂z ⊙ m      ∂W_enc = x_cᵀ ∂pre
 *   ∂b_enc = Σ ∂pre   ∂b_dec = Σ G − W_enc ∂b_enc   (the second term when b_dec centres the input)
 * The decoder rows are kept at unit norm: the gradient's component along each row is removed
 * before the update and the rows are renormalised after it.
 *
 * Inputs: x [B, dIn], scale [1], the four parameters, their Adam moments m.*, v.*, lr [1]
 * (bias correction and warmup folded in), dead [dSae] (1 = dead), aux_scale [1].
 * Outputs: new parameters, new moments, sse, sst, aux, fired [dSae] (tokens each latent fired on).
 */
export function buildTrainStep(g: GraphBuilder, o: TrainGraphOptions, adam: { beta1: number; beta2: number; eps: number }): void {
  const { dIn, dSae } = o;
  const x = g.input('x', 'float32', ['B', dIn]);
  const scale = g.input('scale', 'float32', [1]);
  const dims: Record<TrainParam, number[]> = { W_enc: [dIn, dSae], b_enc: [dSae], W_dec: [dSae, dIn], b_dec: [dIn] };
  const P = {} as Record<TrainParam, string>;
  const M = {} as Record<TrainParam, string>;
  const V = {} as Record<TrainParam, string>;
  for (const name of TRAIN_PARAMS) {
    P[name] = g.input(name, 'float32', dims[name]);
    M[name] = g.input(`m.${name}`, 'float32', dims[name]);
    V[name] = g.input(`v.${name}`, 'float32', dims[name]);
  }
  const lr = g.input('lr', 'float32', [1]);
  const useAux = o.kAux > 0;
  const dead = useAux ? g.input('dead', 'float32', [dSae]) : '';
  const auxScale = useAux ? g.input('aux_scale', 'float32', [1]) : '';

  // Forward.
  const names: SaeParamNames = { wEnc: P.W_enc, bEnc: P.b_enc, wDec: P.W_dec, bDec: P.b_dec, scale };
  const xs = g.node('Mul', [x, scale], {}, 'x_scaled');
  const { centred, pre, z } = emitEncode(g, xs, { ...names, scale: undefined }, { activation: { kind: 'topk', k: o.k }, applyBDecToInput: o.applyBDecToInput });
  const recon = emitDecode(g, z, { ...names, scale: undefined });
  const err = g.node('Sub', [recon, xs], {}, 'err');
  const sse = g.node('ReduceSum', [g.node('Mul', [err, err], {}, 'err_sq')], { keepdims: { i: 0 } }, 'sse');
  const centredBatch = g.node('Sub', [xs, g.node('ReduceMean', [xs, g.constInt64([0])], { keepdims: { i: 1 } }, 'x_mean')], {}, 'x_dev');
  const sst = g.node('ReduceSum', [g.node('Mul', [centredBatch, centredBatch], {}, 'dev_sq')], { keepdims: { i: 0 } }, 'sst');
  const invSst = g.node('Reciprocal', [g.node('Max', [sst, g.constFloat([1e-30], [])], {}, 'sst_safe')], {}, 'inv_sst');
  const active = g.node('Cast', [g.node('Greater', [z, g.constFloat([0], [])], {}, 'z_pos')], f32, 'active');
  const fired = g.node('ReduceSum', [active, g.constInt64([0])], { keepdims: { i: 0 } }, 'fired');

  // Backward of the reconstruction loss.
  const G = g.node('Mul', [err, g.node('Mul', [invSst, g.constFloat([2], [])], {}, 'two_inv_sst')], {}, 'grad_recon');
  let gWdec = g.node('Gemm', [z, G], { transA: { i: 1 } }, 'grad_W_dec_main');
  let gPre = g.node('Mul', [g.node('Gemm', [G, P.W_dec], { transB: { i: 1 } }, 'grad_z'), active], {}, 'grad_pre_main');
  let aux = g.constFloat([0], []);

  if (useAux) {
    // AuxK: the dead latents' best guess at the residual x̃ − x̂ (= −err).
    const relu = g.node('Relu', [pre], {}, 'aux.relu');
    const za = emitTopKDense(g, g.node('Mul', [relu, dead], {}, 'aux.dead_only'), o.kAux, 'aux.z');
    const eHat = g.node('MatMul', [za, P.W_dec], {}, 'aux.e_hat');
    const auxErr = g.node('Add', [eHat, err], {}, 'aux.err');
    const auxWeight = g.node('Mul', [auxScale, invSst], {}, 'aux.weight');
    aux = g.node('Mul', [g.node('ReduceSum', [g.node('Mul', [auxErr, auxErr], {}, 'aux.err_sq')], { keepdims: { i: 0 } }, 'aux.sse'), auxWeight], {}, 'aux.loss');
    const Ga = g.node('Mul', [auxErr, g.node('Mul', [auxWeight, g.constFloat([2], [])], {}, 'aux.two_weight')], {}, 'aux.grad_e_hat');
    const activeAux = g.node('Cast', [g.node('Greater', [za, g.constFloat([0], [])], {}, 'aux.z_pos')], f32, 'aux.active');
    gWdec = g.node('Add', [gWdec, g.node('Gemm', [za, Ga], { transA: { i: 1 } }, 'aux.grad_W_dec')], {}, 'grad_W_dec_total');
    gPre = g.node('Add', [gPre, g.node('Mul', [g.node('Gemm', [Ga, P.W_dec], { transB: { i: 1 } }, 'aux.grad_z'), activeAux], {}, 'aux.grad_pre')], {}, 'grad_pre');
  }
  const grads: Record<TrainParam, string> = {
    W_enc: g.node('Gemm', [centred, gPre], { transA: { i: 1 } }, 'grad_W_enc'),
    b_enc: '',
    W_dec: gWdec,
    b_dec: '',
  };
  grads.b_enc = g.node('ReduceSum', [gPre, g.constInt64([0])], { keepdims: { i: 0 } }, 'grad_b_enc');
  const gBdecDirect = g.node('ReduceSum', [G, g.constInt64([0])], { keepdims: { i: 0 } }, 'grad_b_dec_direct');
  grads.b_dec = o.applyBDecToInput
    ? g.node(
        'Sub',
        [gBdecDirect, g.node('Reshape', [g.node('MatMul', [P.W_enc, g.node('Unsqueeze', [grads.b_enc, g.constInt64([1])], {}, 'grad_b_enc_col')], {}, 'grad_b_dec_enc_col'), g.constInt64([dIn])], {}, 'grad_b_dec_enc')],
        {},
        'grad_b_dec',
      )
    : gBdecDirect;
  if (o.withGrads) {
    for (const name of TRAIN_PARAMS) g.output(grads[name], 'float32', dims[name], `grad.${name}`);
    g.output(g.node('Add', [g.node('Mul', [sse, invSst], {}, 'fvu'), aux], {}, 'loss_total'), 'float32', [], 'loss');
  }

  // Unit-norm decoder rows: drop the gradient's component along each row.
  const along = g.node('ReduceSum', [g.node('Mul', [grads.W_dec, P.W_dec], {}, 'dec_dot'), g.constInt64([1])], { keepdims: { i: 1 } }, 'dec_along');
  const gWdecTangent = g.node('Sub', [grads.W_dec, g.node('Mul', [along, P.W_dec], {}, 'dec_parallel')], {}, 'grad_W_dec_tangent');
  const stepGrads: Record<TrainParam, string> = { ...grads, W_dec: gWdecTangent };

  // Adam.
  const b1 = g.constFloat([adam.beta1], []);
  const b2 = g.constFloat([adam.beta2], []);
  const c1 = g.constFloat([1 - adam.beta1], []);
  const c2 = g.constFloat([1 - adam.beta2], []);
  const eps = g.constFloat([adam.eps], []);
  for (const name of TRAIN_PARAMS) {
    const gr = stepGrads[name];
    const m = g.node('Add', [g.node('Mul', [M[name], b1], {}, `adam.${name}.m_old`), g.node('Mul', [gr, c1], {}, `adam.${name}.m_new`)], {}, `adam.${name}.m`);
    const v = g.node('Add', [g.node('Mul', [V[name], b2], {}, `adam.${name}.v_old`), g.node('Mul', [g.node('Mul', [gr, gr], {}, `adam.${name}.g_sq`), c2], {}, `adam.${name}.v_new`)], {}, `adam.${name}.v`);
    const update = g.node('Div', [g.node('Mul', [m, lr], {}, `adam.${name}.lr_m`), g.node('Add', [g.node('Sqrt', [v], {}, `adam.${name}.v_sqrt`), eps], {}, `adam.${name}.denom`)], {}, `adam.${name}.update`);
    let next = g.node('Sub', [P[name], update], {}, `adam.${name}.next`);
    if (name === 'W_dec') {
      const norm = g.node('Max', [g.node('ReduceL2', [next, g.constInt64([1])], { keepdims: { i: 1 } }, 'dec_norm'), g.constFloat([1e-12], [])], {}, 'dec_norm_safe');
      next = g.node('Div', [next, norm], {}, 'W_dec_unit');
    }
    g.output(next, 'float32', dims[name], `next.${name}`);
    g.output(m, 'float32', dims[name], `next.m.${name}`);
    g.output(v, 'float32', dims[name], `next.v.${name}`);
  }
  g.output(sse, 'float32', [], 'out.sse');
  g.output(sst, 'float32', [], 'out.sst');
  g.output(aux, 'float32', [], 'out.aux');
  g.output(fired, 'float32', [dSae], 'out.fired');
}
