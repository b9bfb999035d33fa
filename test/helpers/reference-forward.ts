import type { RandomModel } from './random-model.js';

/**
 * A deliberately plain float64 forward pass written from the Hugging Face modeling code's
 * definitions (rotate_half RoPE, repeat_kv GQA, Conv1D, gelu_new), reading the tensors under
 * their HF names. It shares no code with Steerer's graphs, so agreement is evidence that
 * loading, canonical conversion and the ONNX graph are all right.
 */
export function referenceLogits(model: RandomModel, ids: readonly number[]): Float64Array[] {
  const c = model.config as Record<string, number & unknown>;
  const t = (name: string): Float32Array => {
    const x = model.tensors.get(name);
    if (!x) throw new Error(`reference: missing ${name}`);
    return x.data;
  };
  const isGpt2 = model.arch === 'gpt2';
  const D = (isGpt2 ? c.n_embd : c.hidden_size) as number;
  const H = (isGpt2 ? c.n_head : c.num_attention_heads) as number;
  const Hkv = isGpt2 ? H : (c.num_key_value_heads as number);
  const L = (isGpt2 ? c.n_layer : c.num_hidden_layers) as number;
  const V = c.vocab_size as number;
  const hd = D / H;
  const T = ids.length;
  const eps = (isGpt2 ? c.layer_norm_epsilon : c.rms_norm_eps) as number;

  // y[out] = sum_in W[out, in] x[in] (+ b)   (nn.Linear)
  const linear = (x: Float64Array, W: Float32Array, out: number, b?: Float32Array): Float64Array => {
    const inp = x.length;
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inp; i++) s += W[o * inp + i] * x[i];
      y[o] = s;
    }
    return y;
  };
  // y[out] = sum_in x[in] W[in, out] + b   (GPT-2 Conv1D)
  const conv1d = (x: Float64Array, W: Float32Array, out: number, b: Float32Array): Float64Array => {
    const y = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      let s = b[o];
      for (let i = 0; i < x.length; i++) s += x[i] * W[i * out + o];
      y[o] = s;
    }
    return y;
  };
  const rms = (x: Float64Array, w: Float32Array): Float64Array => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const r = 1 / Math.sqrt(ss / x.length + eps);
    return x.map((v, i) => v * r * w[i]);
  };
  const layerNorm = (x: Float64Array, w: Float32Array, b: Float32Array): Float64Array => {
    const mean = x.reduce((a, v) => a + v, 0) / x.length;
    const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
    const r = 1 / Math.sqrt(variance + eps);
    return x.map((v, i) => (v - mean) * r * w[i] + b[i]);
  };
  const silu = (v: number): number => v / (1 + Math.exp(-v));
  const geluNew = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  const rope = (x: Float64Array, heads: number, pos: number): Float64Array => {
    const out = new Float64Array(x.length);
    const theta = (c.rope_theta as number) ?? 10000;
    for (let h = 0; h < heads; h++) {
      for (let j = 0; j < hd / 2; j++) {
        const a = pos / Math.pow(theta, (2 * j) / hd);
        const x1 = x[h * hd + j];
        const x2 = x[h * hd + j + hd / 2];
        out[h * hd + j] = x1 * Math.cos(a) - x2 * Math.sin(a);
        out[h * hd + j + hd / 2] = x2 * Math.cos(a) + x1 * Math.sin(a);
      }
    }
    return out;
  };
  const headRms = (x: Float64Array, heads: number, w: Float32Array): Float64Array => {
    const out = new Float64Array(x.length);
    for (let h = 0; h < heads; h++) out.set(rms(x.subarray(h * hd, (h + 1) * hd), w), h * hd);
    return out;
  };

  // Embeddings
  const embed = isGpt2 ? t('transformer.wte.weight') : model.tensors.has('model.embed_tokens.weight') ? t('model.embed_tokens.weight') : t('lm_head.weight');
  let hs: Float64Array[] = ids.map((id, p) => {
    const e = Float64Array.from(embed.subarray(id * D, (id + 1) * D));
    if (isGpt2) {
      const wpe = t('transformer.wpe.weight');
      for (let d = 0; d < D; d++) e[d] += wpe[p * D + d];
    }
    return e;
  });

  for (let l = 0; l < L; l++) {
    const qs: Float64Array[] = [];
    const ks: Float64Array[] = [];
    const vs: Float64Array[] = [];
    for (let p = 0; p < T; p++) {
      if (isGpt2) {
        const pre = `transformer.h.${l}.`;
        const x = layerNorm(hs[p], t(`${pre}ln_1.weight`), t(`${pre}ln_1.bias`));
        const qkv = conv1d(x, t(`${pre}attn.c_attn.weight`), 3 * D, t(`${pre}attn.c_attn.bias`));
        qs.push(qkv.slice(0, D));
        ks.push(qkv.slice(D, 2 * D));
        vs.push(qkv.slice(2 * D));
      } else {
        const pre = `model.layers.${l}.`;
        const x = rms(hs[p], t(`${pre}input_layernorm.weight`));
        const bias = (n: string): Float32Array | undefined => model.tensors.get(`${pre}self_attn.${n}_proj.bias`)?.data;
        let q = linear(x, t(`${pre}self_attn.q_proj.weight`), H * hd, bias('q'));
        let k = linear(x, t(`${pre}self_attn.k_proj.weight`), Hkv * hd, bias('k'));
        const v = linear(x, t(`${pre}self_attn.v_proj.weight`), Hkv * hd, bias('v'));
        if (model.arch === 'qwen3') {
          q = headRms(q, H, t(`${pre}self_attn.q_norm.weight`));
          k = headRms(k, Hkv, t(`${pre}self_attn.k_norm.weight`));
        }
        qs.push(rope(q, H, p));
        ks.push(rope(k, Hkv, p));
        vs.push(v);
      }
    }
    const next: Float64Array[] = [];
    for (let p = 0; p < T; p++) {
      const attn = new Float64Array(H * hd);
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / (H / Hkv)); // repeat_kv
        const scores = new Float64Array(p + 1);
        let max = -Infinity;
        for (let s = 0; s <= p; s++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += qs[p][h * hd + d] * ks[s][kvh * hd + d];
          scores[s] = dot / Math.sqrt(hd);
          max = Math.max(max, scores[s]);
        }
        let z = 0;
        for (let s = 0; s <= p; s++) z += (scores[s] = Math.exp(scores[s] - max));
        for (let s = 0; s <= p; s++) for (let d = 0; d < hd; d++) attn[h * hd + d] += (scores[s] / z) * vs[s][kvh * hd + d];
      }
      let h = hs[p];
      if (isGpt2) {
        const pre = `transformer.h.${l}.`;
        const o = conv1d(attn, t(`${pre}attn.c_proj.weight`), D, t(`${pre}attn.c_proj.bias`));
        h = h.map((v, i) => v + o[i]);
        const x = layerNorm(h, t(`${pre}ln_2.weight`), t(`${pre}ln_2.bias`));
        const F = model.tensors.get(`${pre}mlp.c_fc.bias`)!.data.length;
        const up = conv1d(x, t(`${pre}mlp.c_fc.weight`), F, t(`${pre}mlp.c_fc.bias`)).map(geluNew);
        const down = conv1d(up, t(`${pre}mlp.c_proj.weight`), D, t(`${pre}mlp.c_proj.bias`));
        h = h.map((v, i) => v + down[i]);
      } else {
        const pre = `model.layers.${l}.`;
        const o = linear(attn, t(`${pre}self_attn.o_proj.weight`), D);
        h = h.map((v, i) => v + o[i]);
        const x = rms(h, t(`${pre}post_attention_layernorm.weight`));
        const F = c.intermediate_size as number;
        const gate = linear(x, t(`${pre}mlp.gate_proj.weight`), F);
        const up = linear(x, t(`${pre}mlp.up_proj.weight`), F);
        const down = linear(gate.map((g, i) => silu(g) * up[i]), t(`${pre}mlp.down_proj.weight`), D);
        h = h.map((v, i) => v + down[i]);
      }
      next.push(h);
    }
    hs = next;
  }

  const head = isGpt2 ? t('transformer.wte.weight') : t('lm_head.weight');
  return hs.map((h) => {
    const x = isGpt2 ? layerNorm(h, t('transformer.ln_f.weight'), t('transformer.ln_f.bias')) : rms(h, t('model.norm.weight'));
    return linear(x, head, V);
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
