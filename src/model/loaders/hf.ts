import fs from 'node:fs';
import path from 'node:path';
import { ModelFileError } from '../../io/errors.js';
import { SafetensorsCollection } from '../../io/safetensors-collection.js';
import { specFromHfConfig } from '../hf-config.js';
import type { LoadedModel, ModelSpec, WeightMap } from '../spec.js';
import { readTransposed, type HostTensor } from '../tensor.js';
import { checkWeightValues } from '../weight-values.js';
import { tokenizerFromHfJson } from '../tokenizers/hf-tokenizer.js';

type Json = Record<string, unknown>;

/**
 * A Hugging Face model directory: config.json, safetensors (single or sharded), tokenizer.json,
 * tokenizer_config.json (special tokens, chat template), generation_config.json.
 */
export function loadHfDirectory(dir: string): LoadedModel {
  const configPath = path.join(dir, 'config.json');
  const config = readJson(configPath, true)!;
  const tokenizerJsonPath = path.join(dir, 'tokenizer.json');
  const tokenizerJson = readJson(tokenizerJsonPath, true)!;
  const tokenizerConfig = readJson(path.join(dir, 'tokenizer_config.json'), false) ?? {};
  const generationConfig = readJson(path.join(dir, 'generation_config.json'), false) ?? {};

  const specialTokens: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const v = tokenizerConfig[key];
    const s = typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as Json).content === 'string' ? ((v as Json).content as string) : undefined;
    if (s !== undefined) specialTokens[key] = s;
  }
  const tokenizer = tokenizerFromHfJson(tokenizerJson, tokenizerConfig, tokenizerJsonPath);
  const genEos = generationConfig.eos_token_id;
  const eosTokenIds = typeof genEos === 'number' ? [genEos] : Array.isArray(genEos) ? genEos.filter((x): x is number => typeof x === 'number') : undefined;
  // Validated (validateModelSpec) before any tensor is read or sized from it.
  const spec = specFromHfConfig(config, configPath, { addBos: addsBos(tokenizerJson, tokenizerConfig, specialTokens.bos_token), eosTokenIds });

  const tensors = SafetensorsCollection.openDir(dir);
  const dtypes: Record<string, number> = {};
  for (const e of tensors.entries.values()) dtypes[e.dtype] = (dtypes[e.dtype] ?? 0) + 1;
  let weights: WeightMap;
  try {
    checkConfigAgainstTensors(spec, tensors, configPath);
    weights = spec.family === 'gpt2' ? gpt2Weights(spec, tensors, dir) : llamaWeights(spec, tensors, dir);
  } finally {
    tensors.close();
  }

  return {
    spec,
    weights,
    tokenizer,
    chatTemplate: chatTemplate(dir, tokenizerConfig),
    specialTokens,
    source: { format: 'hf', path: dir, name: path.basename(path.resolve(dir)), dtypes },
  };
}

/**
 * The config's sizes against the tensors that hold them, so a mismatch names the config.json
 * field (`"vocab_size" is 2000 but model.embed_tokens.weight has 2048 rows`) rather than only
 * the tensor; the per-tensor shape checks below stay as the complete check.
 */
function checkConfigAgainstTensors(spec: ModelSpec, st: SafetensorsCollection, configPath: string): void {
  const gpt2 = spec.family === 'gpt2';
  const pre = gpt2 && st.has('transformer.wte.weight') ? 'transformer.' : '';
  const tables = gpt2 ? [`${pre}wte.weight`, 'lm_head.weight'] : ['model.embed_tokens.weight', 'lm_head.weight'];
  const [vocabKey, hiddenKey] = gpt2 ? ['vocab_size', 'n_embd'] : ['vocab_size', 'hidden_size'];
  for (const name of tables) {
    const e = st.entries.get(name);
    if (!e || e.shape.length !== 2) continue;
    const where = `${name} in ${path.basename(e.file)}`;
    if (e.shape[0] !== spec.vocabSize) throw new ModelFileError(configPath, `"${vocabKey}" is ${spec.vocabSize} but ${where} has ${e.shape[0]} rows`);
    if (e.shape[1] !== spec.hiddenSize) throw new ModelFileError(configPath, `"${hiddenKey}" is ${spec.hiddenSize} but ${where} has ${e.shape[1]} columns`);
  }
  const wpe = gpt2 ? st.entries.get(`${pre}wpe.weight`) : undefined;
  if (wpe && wpe.shape.length === 2 && wpe.shape[0] !== spec.maxPositions) {
    throw new ModelFileError(configPath, `"n_positions" is ${spec.maxPositions} but ${pre}wpe.weight in ${path.basename(wpe.file)} has ${wpe.shape[0]} rows`);
  }
  // More layers in the weights than the config says would be silently dropped.
  const layerRe = gpt2 ? /^(?:transformer\.)?h\.(\d+)\./ : /^model\.layers\.(\d+)\./;
  let top = -1;
  for (const name of st.entries.keys()) {
    const m = layerRe.exec(name);
    if (m) top = Math.max(top, Number(m[1]));
  }
  const layersKey = gpt2 ? 'n_layer' : 'num_hidden_layers';
  if (top >= spec.numLayers) throw new ModelFileError(configPath, `"${layersKey}" is ${spec.numLayers} but the weights hold layer ${top}`);
}

/** Weights are floating point; an integer tensor under a weight's name is not a model we can run. */
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** Reads tensors by source name, checking dtypes and shapes against the spec and values for finiteness. */
class TensorReader {
  constructor(
    private readonly st: SafetensorsCollection,
    private readonly dir: string,
  ) {}

  has(name: string): boolean {
    return this.st.has(name);
  }

  check(name: string, shape: readonly number[]): void {
    const e = this.st.entries.get(name);
    if (!e) throw new ModelFileError(this.dir, `tensor ${name} is missing`);
    if (!FLOAT_DTYPES.has(e.dtype)) throw new ModelFileError(e.file, `tensor ${name} has dtype ${e.dtype}; model weights must be F32, F16, BF16 or F64`);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new ModelFileError(e.file, `tensor ${name} has shape [${e.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
  }

  read(name: string, shape: readonly number[]): Float32Array {
    this.check(name, shape);
    return checkWeightValues(this.st.readF32(name), this.st.entries.get(name)!.file, name);
  }

  /** An [out, in] linear weight, stored canonically as [in, out] (transposed while reading, block by block). */
  linear(name: string, out: number, inp: number): HostTensor {
    this.check(name, [out, inp]);
    return { data: checkWeightValues(readTransposed(this.st, name, out, inp), this.st.entries.get(name)!.file, name), shape: [inp, out] };
  }

  vector(name: string, n: number): HostTensor {
    return { data: this.read(name, [n]), shape: [n] };
  }
}

function llamaWeights(spec: ModelSpec, st: SafetensorsCollection, dir: string): WeightMap {
  const r = new TensorReader(st, dir);
  const { hiddenSize: D, vocabSize: V, intermediateSize: F, headDim: hd, numHeads: H, numKvHeads: Hkv } = spec;
  const w: WeightMap = new Map();
  const embedName = 'model.embed_tokens.weight';
  const headName = 'lm_head.weight';
  // Tied models may store either matrix (TinyStories stores only lm_head); keep one copy, as output.
  if (r.has(headName)) w.set('output.weight', r.linear(headName, V, D));
  if (!spec.tiedEmbeddings || !r.has(headName)) {
    if (!r.has(embedName)) throw new ModelFileError(dir, `neither ${embedName} nor ${headName} is present`);
    if (!r.has(headName)) w.set('output.weight', r.linear(embedName, V, D));
    else w.set('token_embd', { data: r.read(embedName, [V, D]), shape: [V, D] });
  }
  w.set('output_norm.weight', r.vector('model.norm.weight', D));
  for (let l = 0; l < spec.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const b = `blk.${l}.`;
    w.set(`${b}attn_norm.weight`, r.vector(`${p}input_layernorm.weight`, D));
    w.set(`${b}attn_q.weight`, r.linear(`${p}self_attn.q_proj.weight`, H * hd, D));
    w.set(`${b}attn_k.weight`, r.linear(`${p}self_attn.k_proj.weight`, Hkv * hd, D));
    w.set(`${b}attn_v.weight`, r.linear(`${p}self_attn.v_proj.weight`, Hkv * hd, D));
    w.set(`${b}attn_output.weight`, r.linear(`${p}self_attn.o_proj.weight`, D, H * hd));
    if (spec.attnQkvBias) {
      w.set(`${b}attn_q.bias`, r.vector(`${p}self_attn.q_proj.bias`, H * hd));
      w.set(`${b}attn_k.bias`, r.vector(`${p}self_attn.k_proj.bias`, Hkv * hd));
      w.set(`${b}attn_v.bias`, r.vector(`${p}self_attn.v_proj.bias`, Hkv * hd));
    }
    if (spec.qkNorm) {
      w.set(`${b}attn_q_norm.weight`, r.vector(`${p}self_attn.q_norm.weight`, hd));
      w.set(`${b}attn_k_norm.weight`, r.vector(`${p}self_attn.k_norm.weight`, hd));
    }
    w.set(`${b}ffn_norm.weight`, r.vector(`${p}post_attention_layernorm.weight`, D));
    w.set(`${b}ffn_gate.weight`, r.linear(`${p}mlp.gate_proj.weight`, F, D));
    w.set(`${b}ffn_up.weight`, r.linear(`${p}mlp.up_proj.weight`, F, D));
    w.set(`${b}ffn_down.weight`, r.linear(`${p}mlp.down_proj.weight`, D, F));
  }
  return w;
}

function gpt2Weights(spec: ModelSpec, st: SafetensorsCollection, dir: string): WeightMap {
  const r = new TensorReader(st, dir);
  const pre = r.has('transformer.wte.weight') ? 'transformer.' : '';
  const { hiddenSize: D, vocabSize: V, intermediateSize: F } = spec;
  const w: WeightMap = new Map();
  if (spec.tiedEmbeddings || !r.has('lm_head.weight')) {
    w.set('output.weight', r.linear(`${pre}wte.weight`, V, D));
  } else {
    w.set('token_embd', { data: r.read(`${pre}wte.weight`, [V, D]), shape: [V, D] });
    w.set('output.weight', r.linear('lm_head.weight', V, D));
  }
  w.set('pos_embd', { data: r.read(`${pre}wpe.weight`, [spec.maxPositions, D]), shape: [spec.maxPositions, D] });
  w.set('output_norm.weight', r.vector(`${pre}ln_f.weight`, D));
  w.set('output_norm.bias', r.vector(`${pre}ln_f.bias`, D));
  for (let l = 0; l < spec.numLayers; l++) {
    const p = `${pre}h.${l}.`;
    const b = `blk.${l}.`;
    // GPT-2's Conv1D weights are already [in, out]; c_attn packs q|k|v along out.
    const qkv = r.read(`${p}attn.c_attn.weight`, [D, 3 * D]);
    const qkvBias = r.read(`${p}attn.c_attn.bias`, [3 * D]);
    (['q', 'k', 'v'] as const).forEach((name, k) => {
      const part = new Float32Array(D * D);
      for (let row = 0; row < D; row++) part.set(qkv.subarray(row * 3 * D + k * D, row * 3 * D + (k + 1) * D), row * D);
      w.set(`${b}attn_${name}.weight`, { data: part, shape: [D, D] });
      w.set(`${b}attn_${name}.bias`, { data: qkvBias.slice(k * D, (k + 1) * D), shape: [D] });
    });
    w.set(`${b}attn_output.weight`, { data: r.read(`${p}attn.c_proj.weight`, [D, D]), shape: [D, D] });
    w.set(`${b}attn_output.bias`, r.vector(`${p}attn.c_proj.bias`, D));
    w.set(`${b}attn_norm.weight`, r.vector(`${p}ln_1.weight`, D));
    w.set(`${b}attn_norm.bias`, r.vector(`${p}ln_1.bias`, D));
    w.set(`${b}ffn_norm.weight`, r.vector(`${p}ln_2.weight`, D));
    w.set(`${b}ffn_norm.bias`, r.vector(`${p}ln_2.bias`, D));
    w.set(`${b}ffn_up.weight`, { data: r.read(`${p}mlp.c_fc.weight`, [D, F]), shape: [D, F] });
    w.set(`${b}ffn_up.bias`, r.vector(`${p}mlp.c_fc.bias`, F));
    w.set(`${b}ffn_down.weight`, { data: r.read(`${p}mlp.c_proj.weight`, [F, D]), shape: [F, D] });
    w.set(`${b}ffn_down.bias`, r.vector(`${p}mlp.c_proj.bias`, D));
  }
  return w;
}

/** Whether prompts get BOS: tokenizer_config's flag, else the post-processor's template. */
function addsBos(tokenizerJson: Json, tokenizerConfig: Json, bosToken: string | undefined): boolean {
  if (typeof tokenizerConfig.add_bos_token === 'boolean') return tokenizerConfig.add_bos_token;
  const post = tokenizerJson.post_processor as Json | null | undefined;
  const templates = post?.type === 'Sequence' && Array.isArray(post.processors) ? (post.processors as Json[]) : post ? [post] : [];
  for (const t of templates) {
    if (t.type !== 'TemplateProcessing' || !Array.isArray(t.single)) continue;
    const first = (t.single as Json[])[0];
    const special = first?.SpecialToken as Json | undefined;
    if (special && (bosToken === undefined || special.id === bosToken)) return true;
  }
  return false;
}

function chatTemplate(dir: string, tokenizerConfig: Json): string | undefined {
  const file = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8');
  const t = tokenizerConfig.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((x: Json) => x && x.name === 'default') ?? t[0];
    if (named && typeof named.template === 'string') return named.template;
  }
  return undefined;
}

function readJson(file: string, required: boolean): Json | undefined {
  if (!fs.existsSync(file)) {
    if (required) throw new ModelFileError(file, 'file not found');
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    // JSON.parse quotes the offending text, newlines included: keep the problem to one line.
    throw new ModelFileError(file, `not valid JSON (${(e as Error).message.replace(/\s+/g, ' ').slice(0, 200)})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ModelFileError(file, 'expected a JSON object');
  return parsed as Json;
}
