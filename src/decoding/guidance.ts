import type { VocabAlignment } from './vocab-align.js';

/**
 * Guidance: the main run's logits plus weighted differences of other runs' logits,
 *   l = l_main + Σ_k w_k · (l_plus(k) − l_minus(k)),
 * then plausibility cuts. Every method of the literature is one or two such terms:
 *   contrastive decoding   l_amateur + α(l_expert − l_amateur) = l_main + (α − 1)(l_main − l_amateur)
 *   classifier-free guid.  l_neg + γ(l_cond − l_neg)            = l_main + (γ − 1)(l_main − l_neg)
 *   proxy-tuning           l_target + α(l_expert − l_base)
 * Raw logits are combined: each model's logits differ from its log-probs by one constant per
 * row, which softmax ignores, so the sampled distribution is the same as with log-probs, and
 * a zero difference (expert == base) leaves the main logits bit for bit unchanged.
 */
export interface GuidanceTerm {
  /** For benchmark tables and errors: "contrast", "cfg", "guide". */
  readonly name: string;
  readonly weight: number;
  /** Run indices in the Lockstep (0 = main). */
  readonly plus: number;
  readonly minus: number;
}

/**
 * Adaptive plausibility (Li et al. 2023, contrastive decoding): keep only tokens whose
 * probability under run `stream` is at least beta × that run's top probability.
 */
export interface PlausibilityCut {
  readonly stream: number;
  readonly beta: number;
}

/** What guidance reads from the runs (Lockstep provides it). */
export interface LogitRuns {
  readonly streams: readonly { readonly vocab?: VocabAlignment }[];
  /** Row r's next-token logits from run s, over that run's vocabulary. */
  logits(s: number, r: number): Float32Array;
}

/** Main-vocabulary id → run s's logit index (identity for the main run and same-vocabulary runs). */
function indexOf(lockstep: LogitRuns, s: number): Int32Array | undefined {
  const v = lockstep.streams[s].vocab;
  return v && !v.identical ? v.logitIndex : undefined;
}

/** Row r's guided logits over the main vocabulary, written into `out`. */
export function guidedLogits(lockstep: LogitRuns, terms: readonly GuidanceTerm[], cuts: readonly PlausibilityCut[], r: number, out: Float32Array): Float32Array {
  out.set(lockstep.logits(0, r));
  const V = out.length;
  for (const t of terms) {
    const a = lockstep.logits(t.plus, r);
    const b = lockstep.logits(t.minus, r);
    const ia = indexOf(lockstep, t.plus);
    const ib = indexOf(lockstep, t.minus);
    const w = t.weight;
    if (!ia && !ib) {
      for (let i = 0; i < V; i++) out[i] += w * (a[i] - b[i]);
      continue;
    }
    for (let i = 0; i < V; i++) {
      const ja = ia ? ia[i] : i;
      const jb = ib ? ib[i] : i;
      // A token one side does not know gets no guidance: the main model alone decides it.
      if (ja >= 0 && jb >= 0) out[i] += w * (a[ja] - b[jb]);
    }
  }
  for (const c of cuts) {
    const ref = lockstep.logits(c.stream, r);
    const idx = indexOf(lockstep, c.stream);
    let max = -Infinity;
    for (let j = 0; j < ref.length; j++) if (ref[j] > max) max = ref[j];
    // p_i ≥ β·p_max  ⇔  l_i ≥ l_max + log β (softmax shares one normaliser).
    const floor = max + Math.log(c.beta);
    for (let i = 0; i < V; i++) {
      const j = idx ? idx[i] : i;
      if (j < 0 || ref[j] < floor) out[i] = -Infinity;
    }
  }
  return out;
}
