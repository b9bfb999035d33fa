/**
 * sparsify SAEs, read into Steerer's convention (see sae.ts); one of the external formats
 * load-sae.ts dispatches to. Field names and semantics were checked against sparsify's own code:
 *
 * sparsify (cfg.json + sae.safetensors, one folder per hookpoint): `encoder.weight` [num_latents,
 * d_in] (an nn.Linear, hence transposed here), `encoder.bias`, `W_dec` [num_latents, d_in], `b_dec`.
 * Its encoder subtracts b_dec from the input unless it is a transcoder, applies ReLU, then keeps the
 * top k. cfg.json is the SparseCoderConfig plus `d_in`; it names no hook, so the folder name does.
 */
import { basename, dirname, join, resolve } from 'node:path';
import type { HookPoint, HookSite } from '../graph/hook-points.js';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { readText } from '../io/json-records.js';
import type { SafetensorsFile } from '../io/safetensors.js';
import { validateSae, type Sae, type SaeWeights } from './sae.js';
import { transpose2d } from '../model/tensor.js';
import { checkNoExtraTensors, floatEntry, quote, readTensor, shapeText, trimDescription } from './sae-tensors.js';
import { Cfg, checkHookOption, isObject, withSafetensors, type SaeLoadOptions } from './external-cfg.js';

export const SPARSIFY_CFG = 'cfg.json';
export const SPARSIFY_WEIGHTS = 'sae.safetensors';

const LAYER_FOLDER = /^(?:gpt_neox\.|model\.|transformer\.)?(?:layers|h)\.(0|[1-9]\d*)(?:\.(mlp|self_attn|attn|attention))?$/;
const EMBED_FOLDER = /^(?:gpt_neox\.|model\.)?(?:embed_tokens|embed_in)$/;
const BRANCH_SITE: Readonly<Record<string, HookSite>> = { mlp: 'mlp_out', self_attn: 'attn_out', attn: 'attn_out', attention: 'attn_out' };

/**
 * The hook point a sparsify folder is named after (sparsify names each folder by the hooked module):
 * a layer module's output is resid_post, its MLP/attention submodule's output is the branch output,
 * and the token embedding is resid_pre of layer 0 (true for Llama/Qwen/NeoX-style models; Gemma
 * scales embeddings after embed_tokens). Undefined for a name we cannot read.
 */
export function sparsifyHookFromFolder(name: string): HookPoint | undefined {
  if (EMBED_FOLDER.test(name)) return { layer: 0, site: 'resid_pre' };
  const m = LAYER_FOLDER.exec(name);
  if (!m || !Number.isSafeInteger(Number(m[1]))) return undefined;
  return { layer: Number(m[1]), site: m[2] === undefined ? 'resid_post' : BRANCH_SITE[m[2]] };
}

/** sparsify writes its run config (with the model name) one level up; best effort, it is not part of the SAE. */
function sparsifyModelName(dir: string): string | undefined {
  try {
    const json: unknown = JSON.parse(readText(join(dirname(resolve(dir)), 'config.json')));
    return isObject(json) && typeof json.model === 'string' ? json.model : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Load a sparsify SAE folder (cfg.json + sae.safetensors). Only plain TopK SAEs are supported:
 * transcoders, skip connections and groupmax activation are refused.
 */
export function loadSparsify(dir: string, opts: SaeLoadOptions = {}): Sae {
  const c = Cfg.read(join(dir, SPARSIFY_CFG));
  if (c.bool('transcode')) c.fail('this is a transcoder (transcode: true); Steerer reads sparse autoencoders only');
  if (c.bool('skip_connection')) c.fail('skip connections (skip_connection: true) are not supported');
  if (c.bool('embed_skip')) c.fail('embedding skip connections (embed_skip: true) are not supported');
  if (c.bool('gram_lookup')) c.fail('n-gram lookup tables (gram_lookup: true) are not supported');
  if (c.bool('signed')) c.fail('signed activations (signed: true) are not supported');
  const act = c.str('activation') ?? 'topk';
  if (act !== 'topk') c.fail(`activation ${quote(act)} is not supported (Steerer reads topk)`);
  const k = c.positiveInt('k') ?? c.fail('no "k"');
  if (opts.inputScale !== undefined) {
    throw new InvalidInputError(`${dir}: sparsify SAEs read raw activations, so an input scale does not apply`);
  }
  const folder = basename(resolve(dir));
  const hook = opts.hook ? checkHookOption(opts.hook) : sparsifyHookFromFolder(folder);
  if (!hook) {
    throw new InvalidInputError(
      `${dir}: cannot tell the hook point from the folder name ${quote(folder)} (sparsify names folders after the hooked module, ` +
        'e.g. layers.5, layers.5.mlp, layers.5.self_attn, embed_tokens); pass the hook, e.g. { layer: 5, site: "resid_post" }',
    );
  }
  const { weights, dIn, dSae } = withSafetensors(join(dir, SPARSIFY_WEIGHTS), (f) => readSparsifyWeights(f, c));
  const modelName = sparsifyModelName(dir);
  const sae: Sae = {
    cfg: {
      dIn,
      dSae,
      activation: { kind: 'topk', k },
      hook,
      // sparsify's encode: x − b_dec, then the encoder (transcoders, refused above, skip this).
      applyBDecToInput: true,
      inputScale: 1,
      ...(modelName !== undefined ? { modelName } : {}),
      format: 'sparsify',
      description: trimDescription(c.text),
    },
    weights,
  };
  return validateSae(sae, dir);
}

function readSparsifyWeights(f: SafetensorsFile, c: Cfg): { weights: SaeWeights; dIn: number; dSae: number } {
  if (f.has('W_skip')) throw new ModelFileError(f.path, 'tensor "W_skip" is a skip connection, which is not supported');
  checkNoExtraTensors(f, ['encoder.weight', 'encoder.bias', 'W_dec', 'b_dec'], 'a sparsify SAE holds only encoder.weight, encoder.bias, W_dec and b_dec; this variant is not supported');
  // d_in and the width come from cfg.json when it says them, else from the encoder itself.
  const enc = floatEntry(f, 'encoder.weight');
  if (enc.shape.length !== 2) throw new ModelFileError(f.path, `tensor "encoder.weight" has shape ${shapeText(enc.shape)}, expected [num_latents, d_in]`);
  const cfgDIn = c.positiveInt('d_in');
  const dIn = cfgDIn ?? enc.shape[1];
  const numLatents = c.int('num_latents') ?? 0;
  const factor = c.positiveInt('expansion_factor');
  // num_latents 0 means d_in × expansion_factor (sparsify's own rule).
  const cfgDSae = numLatents > 0 ? numLatents : factor !== undefined && cfgDIn !== undefined ? cfgDIn * factor : undefined;
  const dSae = cfgDSae ?? enc.shape[0];
  const dims = `d_in ${dIn}${cfgDIn === undefined ? ' from encoder.weight' : ' from cfg.json'}, num_latents ${dSae}${cfgDSae === undefined ? ' from encoder.weight' : ' from cfg.json'}`;
  if (dIn < 1 || dSae < 1) throw new ModelFileError(f.path, `tensor "encoder.weight" has shape ${shapeText(enc.shape)}; an SAE needs d_in and num_latents ≥ 1`);
  const encoder = readTensor(f, 'encoder.weight', [dSae, dIn], dims);
  const weights: SaeWeights = {
    wEnc: transpose2d(encoder, dSae, dIn),
    bEnc: readTensor(f, 'encoder.bias', [dSae], dims),
    wDec: readTensor(f, 'W_dec', [dSae, dIn], dims),
    bDec: readTensor(f, 'b_dec', [dIn], dims),
  };
  return { weights, dIn, dSae };
}
