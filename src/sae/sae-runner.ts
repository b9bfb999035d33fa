import * as ort from 'onnxruntime-node';
import { InvalidInputError } from '../io/errors.js';
import { GraphBuilder } from '../graph/onnx-builder.js';
import { declareSaeInputs, emitDecode, emitEncode, type SaeParamNames } from './sae-graphs.js';
import type { Sae } from './sae.js';
import { computeSessionOptions, defaultThreads } from '../graph/session-options.js';
import { createSession } from '../graph/create-session.js';

/** Sparse codes: for each row, the m largest latents (values 0 past the active ones). */
export interface SparseCodes {
  readonly rows: number;
  readonly m: number;
  /** [rows, m] latent ids, largest value first. */
  readonly indices: Int32Array;
  /** [rows, m] */
  readonly values: Float32Array;
}

/** Reconstruction quality over a set of rows. */
export interface ReconstructionStats {
  readonly rows: number;
  /** Σ‖x̂ − x‖² over rows, in the SAE's scaled units. */
  readonly sse: number;
  /** Σ‖x − mean‖² (batch means), same units. */
  readonly sst: number;
  /** Mean number of active latents per row. */
  readonly l0: number;
  /** Rows each latent was active on. */
  readonly fired: Float64Array;
}

type Kind = 'sparse' | 'dense' | 'recon' | 'stats' | 'shift';

/**
 * Runs an SAE's encoder and decoder as ORT graphs over [rows, dIn] activations. The weights are
 * fed as inputs from one JS copy; graphs are built once per kind.
 */
export class SaeRunner {
  readonly sae: Sae;
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();
  private readonly threads: number;

  constructor(sae: Sae, opts: { threads?: number } = {}) {
    this.sae = sae;
    this.threads = opts.threads ?? defaultThreads();
    const { cfg, weights: w } = sae;
    this.feeds = {
      'sae.W_enc': new ort.Tensor('float32', w.wEnc, [cfg.dIn, cfg.dSae]),
      'sae.b_enc': new ort.Tensor('float32', w.bEnc, [cfg.dSae]),
      'sae.W_dec': new ort.Tensor('float32', w.wDec, [cfg.dSae, cfg.dIn]),
      'sae.b_dec': new ort.Tensor('float32', w.bDec, [cfg.dIn]),
      'sae.scale': new ort.Tensor('float32', Float32Array.of(cfg.inputScale), [1]),
    };
    if (w.threshold) this.feeds['sae.threshold'] = new ort.Tensor('float32', w.threshold, [cfg.dSae]);
  }

  /** The m largest latents of each row (m defaults to k for TopK SAEs, 64 otherwise). */
  async encodeSparse(x: Float32Array, rows: number, m?: number): Promise<SparseCodes> {
    const { cfg } = this.sae;
    const width = Math.min(m ?? (cfg.activation.kind === 'topk' ? cfg.activation.k : 64), cfg.dSae);
    if (!Number.isInteger(width) || width < 1) throw new InvalidInputError(`m must be a positive integer, got ${m}`);
    const out = await this.run('sparse', width, x, rows);
    const idx = out['codes.indices'].data as BigInt64Array;
    const indices = new Int32Array(idx.length);
    for (let i = 0; i < idx.length; i++) indices[i] = Number(idx[i]);
    return { rows, m: width, indices, values: out['codes.values'].data as Float32Array };
  }

  /** Dense latents [rows, dSae] (mind the size for wide SAEs). */
  async encodeDense(x: Float32Array, rows: number): Promise<Float32Array> {
    return (await this.run('dense', 0, x, rows))['codes.dense'].data as Float32Array;
  }

  /** x̂ for each row, in the model's units. */
  async reconstruct(x: Float32Array, rows: number): Promise<Float32Array> {
    return (await this.run('recon', 0, x, rows))['recon'].data as Float32Array;
  }

  /** Σ over rows of z(x + v) − z(x): how adding v moves every latent (for SAE-filtered vectors). */
  async latentShiftSum(x: Float32Array, rows: number, v: Float32Array): Promise<Float32Array> {
    if (v.length !== this.sae.cfg.dIn) throw new InvalidInputError(`vector has ${v.length} values but the SAE reads ${this.sae.cfg.dIn}`);
    return (await this.run('shift', 0, x, rows, { v: new ort.Tensor('float32', v, [v.length]) }))['shift.sum'].data as Float32Array;
  }

  /** FVU ingredients, L0 and firing counts over the rows (in chunks of `chunk` rows). */
  async stats(x: Float32Array, rows: number, chunk = 4096): Promise<ReconstructionStats> {
    const { dIn, dSae } = this.sae.cfg;
    let sse = 0;
    let sst = 0;
    let active = 0;
    const fired = new Float64Array(dSae);
    for (let r = 0; r < rows; r += chunk) {
      const n = Math.min(chunk, rows - r);
      const out = await this.run('stats', 0, x.subarray(r * dIn, (r + n) * dIn), n);
      sse += (out['stats.sse'].data as Float32Array)[0];
      sst += (out['stats.sst'].data as Float32Array)[0];
      const f = out['stats.fired'].data as Float32Array;
      for (let i = 0; i < dSae; i++) {
        fired[i] += f[i];
        active += f[i];
      }
    }
    return { rows, sse, sst, l0: rows ? active / rows : 0, fired };
  }

  private async run(kind: Kind, m: number, x: Float32Array, rows: number, extra: Record<string, ort.Tensor> = {}): Promise<Record<string, ort.Tensor>> {
    const { dIn } = this.sae.cfg;
    if (!Number.isInteger(rows) || rows < 1) throw new InvalidInputError(`rows must be a positive integer, got ${rows}`);
    if (x.length !== rows * dIn) throw new InvalidInputError(`activations have ${x.length} values, expected ${rows} rows × ${dIn}`);
    const session = await this.session(kind, m);
    const feeds: Record<string, ort.Tensor> = { ...extra, x: new ort.Tensor('float32', x, [rows, dIn]) };
    for (const name of session.inputNames) if (!(name in feeds)) feeds[name] = this.feeds[name];
    return (await session.run(feeds)) as Record<string, ort.Tensor>;
  }

  private session(kind: Kind, m: number): Promise<ort.InferenceSession> {
    const key = `${kind}:${m}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = createSession(this.build(kind, m), computeSessionOptions(this.threads));
      this.sessions.set(key, s);
    }
    return s;
  }

  private build(kind: Kind, m: number): Uint8Array {
    const { cfg } = this.sae;
    const g = new GraphBuilder(`sae_${kind}`);
    const x = g.input('x', 'float32', ['rows', cfg.dIn]);
    const p: SaeParamNames = declareSaeInputs(g, cfg.dIn, cfg.dSae, cfg.activation);
    const { z } = emitEncode(g, x, p, cfg);
    if (kind === 'sparse') {
      const [values, indices] = g.nodeMulti('TopK', [z, g.constInt64([m])], { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 1 } }, ['codes.values', 'codes.indices']);
      g.output(values, 'float32', ['rows', m]);
      g.output(indices, 'int64', ['rows', m]);
    } else if (kind === 'dense') {
      g.output(z, 'float32', ['rows', cfg.dSae], 'codes.dense');
    } else if (kind === 'shift') {
      const v = g.input('v', 'float32', [cfg.dIn]);
      const moved = emitEncode(g, g.node('Add', [x, v], {}, 'shift.x_moved'), p, cfg, 'moved').z;
      const diff = g.node('Sub', [moved, z], {}, 'shift.diff');
      g.output(g.node('ReduceSum', [diff, g.constInt64([0])], { keepdims: { i: 0 } }, 'shift.sum'), 'float32', [cfg.dSae]);
    } else if (kind === 'recon') {
      g.output(emitDecode(g, z, p), 'float32', ['rows', cfg.dIn], 'recon');
    } else {
      // Errors in scaled units, as training measures them.
      const xs = g.node('Mul', [x, p.scale!], {}, 'stats.x_scaled');
      const err = g.node('Sub', [emitDecode(g, z, { ...p, scale: undefined }), xs], {}, 'stats.err');
      const dev = g.node('Sub', [xs, g.node('ReduceMean', [xs, g.constInt64([0])], { keepdims: { i: 1 } }, 'stats.mean')], {}, 'stats.dev');
      g.output(g.node('ReduceSum', [g.node('Mul', [err, err], {}, 'stats.err_sq')], { keepdims: { i: 0 } }, 'stats.sse'), 'float32', []);
      g.output(g.node('ReduceSum', [g.node('Mul', [dev, dev], {}, 'stats.dev_sq')], { keepdims: { i: 0 } }, 'stats.sst'), 'float32', []);
      const on = g.node('Cast', [g.node('Greater', [z, g.constFloat([0], [])], {}, 'stats.on')], { to: { i: 1 } }, 'stats.active');
      g.output(g.node('ReduceSum', [on, g.constInt64([0])], { keepdims: { i: 0 } }, 'stats.fired'), 'float32', [cfg.dSae]);
    }
    return g.toBytes();
  }
}
