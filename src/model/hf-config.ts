import { ModelFileError } from '../io/errors.js';
import type { ArchFamily, ModelSpec, RopeScaling } from './spec.js';
import { showValue, validateModelSpec, type SpecFieldNames } from './validate-spec.js';

/**
 * Hugging Face config.json → ModelSpec, for the architectures Steerer wires:
 * Llama (2/3, SmolLM2, TinyLlama), Mistral, Qwen2/2.5, Qwen3, GPT-2.
 */

type Json = Record<string, unknown>;

const FAMILY_BY_MODEL_TYPE: Record<string, ArchFamily> = {
  llama: 'llama',
  mistral: 'llama',
  qwen2: 'llama',
  qwen3: 'llama',
  gpt2: 'gpt2',
};

export function specFromHfConfig(config: Json, file: string, extras: { addBos: boolean; eosTokenIds?: number[] }): ModelSpec {
  const modelType = str(config, 'model_type', file);
  const family = FAMILY_BY_MODEL_TYPE[modelType];
  if (!family) {
    throw new ModelFileError(file, `model_type "${modelType}" is not supported (supported: ${Object.keys(FAMILY_BY_MODEL_TYPE).join(', ')})`);
  }
  const architecture = Array.isArray(config.architectures) && typeof config.architectures[0] === 'string' ? config.architectures[0] : modelType;
  const eos = extras.eosTokenIds ?? idList(config.eos_token_id);
  const bos = optInt(config, 'bos_token_id', file);
  const pad = optInt(config, 'pad_token_id', file);

  if (family === 'gpt2') {
    const hidden = int(config, 'n_embd', file);
    const heads = int(config, 'n_head', file);
    checkDivisible(hidden, heads, 'n_embd', 'n_head', file);
    const act = typeof config.activation_function === 'string' ? config.activation_function : 'gelu_new';
    const spec: ModelSpec = {
      architecture,
      family,
      vocabSize: int(config, 'vocab_size', file),
      hiddenSize: hidden,
      numLayers: int(config, 'n_layer', file),
      numHeads: heads,
      numKvHeads: heads,
      headDim: hidden / heads,
      intermediateSize: optInt(config, 'n_inner', file) ?? 4 * hidden,
      maxPositions: int(config, 'n_positions', file),
      norm: 'layer',
      normEps: num(config, 'layer_norm_epsilon', file, 1e-5),
      activation: act === 'gelu' ? 'gelu' : 'gelu_tanh',
      attnQkvBias: true,
      attnOutBias: true,
      mlpBias: true,
      qkNorm: false,
      positions: 'learned',
      tiedEmbeddings: config.tie_word_embeddings !== false,
      bosTokenId: bos,
      eosTokenIds: eos,
      padTokenId: pad,
      addBos: extras.addBos,
    };
    return validateModelSpec(spec, file, {
      ...COMMON_NAMES,
      vocabSize: '"vocab_size"',
      hiddenSize: '"n_embd"',
      numLayers: '"n_layer"',
      numHeads: '"n_head"',
      numKvHeads: '"n_head"',
      headDim: 'head dimension ("n_embd" / "n_head")',
      intermediateSize: config.n_inner === undefined || config.n_inner === null ? 'MLP width (4 × "n_embd")' : '"n_inner"',
      maxPositions: '"n_positions"',
      normEps: '"layer_norm_epsilon"',
    });
  }

  const hidden = int(config, 'hidden_size', file);
  const heads = int(config, 'num_attention_heads', file);
  const kvHeads = optPositiveInt(config, 'num_key_value_heads', file) ?? heads;
  checkDivisible(heads, kvHeads, 'num_attention_heads', 'num_key_value_heads', file);
  const explicitHeadDim = optPositiveInt(config, 'head_dim', file);
  if (explicitHeadDim === undefined) checkDivisible(hidden, heads, 'hidden_size', 'num_attention_heads', file);
  const headDim = explicitHeadDim ?? hidden / heads;
  const act = typeof config.hidden_act === 'string' ? config.hidden_act : 'silu';
  if (act !== 'silu' && act !== 'swish') throw new ModelFileError(file, `hidden_act "${act}" is not supported for ${modelType} (expected silu)`);
  const partialRaw = config.partial_rotary_factor;
  const hasPartial = partialRaw !== undefined && partialRaw !== null;
  // Checked here, where the factor is still known: the spec only keeps the rotary dimension count.
  if (hasPartial && !(typeof partialRaw === 'number' && Number.isFinite(partialRaw) && partialRaw > 0 && partialRaw <= 1)) {
    throw new ModelFileError(file, `"partial_rotary_factor" must be a number in (0, 1], got ${showValue(partialRaw)}`);
  }
  const partial = hasPartial ? (partialRaw as number) : 1;
  const bias = modelType === 'qwen2' || config.attention_bias === true;
  const headDimName = explicitHeadDim !== undefined ? '"head_dim"' : 'head dimension ("hidden_size" / "num_attention_heads")';
  const spec: ModelSpec = {
    architecture,
    family,
    vocabSize: int(config, 'vocab_size', file),
    hiddenSize: hidden,
    numLayers: int(config, 'num_hidden_layers', file),
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim,
    intermediateSize: int(config, 'intermediate_size', file),
    maxPositions: optInt(config, 'max_position_embeddings', file) ?? 2048,
    norm: 'rms',
    normEps: num(config, 'rms_norm_eps', file, 1e-6),
    activation: 'silu',
    attnQkvBias: bias,
    attnOutBias: false,
    mlpBias: config.mlp_bias === true,
    qkNorm: modelType === 'qwen3',
    positions: 'rope',
    rope: {
      theta: num(config, 'rope_theta', file, 10000),
      dim: Math.round(headDim * partial),
      scaling: ropeScaling(config.rope_scaling, file),
    },
    tiedEmbeddings: config.tie_word_embeddings === true,
    bosTokenId: bos,
    eosTokenIds: eos,
    padTokenId: pad,
    addBos: extras.addBos,
  };
  const scalingType = spec.rope?.scaling?.type;
  return validateModelSpec(spec, file, {
    ...COMMON_NAMES,
    vocabSize: '"vocab_size"',
    hiddenSize: '"hidden_size"',
    numLayers: '"num_hidden_layers"',
    numHeads: '"num_attention_heads"',
    numKvHeads: '"num_key_value_heads"',
    headDim: headDimName,
    intermediateSize: '"intermediate_size"',
    maxPositions: '"max_position_embeddings"',
    normEps: '"rms_norm_eps"',
    'rope.theta': '"rope_theta"',
    'rope.dim': hasPartial ? `rotary dimensions (${headDimName} ${headDim} × "partial_rotary_factor" ${partial})` : headDimName,
    'rope.scaling.factor': `"rope_scaling.factor" (${scalingType})`,
    'rope.scaling.lowFreqFactor': '"rope_scaling.low_freq_factor"',
    'rope.scaling.highFreqFactor': '"rope_scaling.high_freq_factor"',
    'rope.scaling.originalMaxPositions': '"rope_scaling.original_max_position_embeddings"',
  });
}

/** Names of the fields every config.json layout shares. */
const COMMON_NAMES: SpecFieldNames = {
  bosTokenId: '"bos_token_id"',
  eosTokenIds: '"eos_token_id" (of config.json or generation_config.json)',
  padTokenId: '"pad_token_id"',
};

function ropeScaling(raw: unknown, file: string): RopeScaling | undefined {
  if (raw === null || raw === undefined) return undefined;
  if (typeof raw !== 'object') throw new ModelFileError(file, 'rope_scaling must be an object or null');
  const r = raw as Json;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return undefined;
  const n = (key: string): number => num(r, key, file, undefined, 'rope_scaling.');
  if (type === 'linear') return { type: 'linear', factor: n('factor') };
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor: n('factor'),
      lowFreqFactor: n('low_freq_factor'),
      highFreqFactor: n('high_freq_factor'),
      originalMaxPositions: n('original_max_position_embeddings'),
    };
  }
  throw new ModelFileError(file, `rope_scaling type "${String(type)}" is not supported (supported: linear, llama3)`);
}

function idList(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  return [];
}

function checkDivisible(a: number, b: number, an: string, bn: string, file: string): void {
  if (a % b !== 0) throw new ModelFileError(file, `"${an}" (${a}) is not divisible by "${bn}" (${b})`);
}

function str(c: Json, key: string, file: string): string {
  const v = c[key];
  if (typeof v !== 'string') throw new ModelFileError(file, `"${key}" is missing or not a string`);
  return v;
}

function int(c: Json, key: string, file: string): number {
  const v = c[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ModelFileError(file, `"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function optInt(c: Json, key: string, file: string): number | undefined {
  const v = c[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ModelFileError(file, `"${key}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function optPositiveInt(c: Json, key: string, file: string): number | undefined {
  const v = c[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ModelFileError(file, `"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function num(c: Json, key: string, file: string, fallback?: number, prefix = ''): number {
  const v = c[key];
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelFileError(file, `"${prefix}${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}
