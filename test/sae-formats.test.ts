/**
 * SAE files on disk: Steerer's format (round trip, validation, atomicity), SAELens folders (old
 * flat and 6.x cfg.json, standard/topk/jumprelu), sparsify folders (encoder.weight transposed,
 * hook from the folder name), layout detection, export to SAELens, and corrupted-file fuzzing.
 * The tests write the external layouts themselves, in the shapes those tools write.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HookPoint } from '../src/graph/hook-points.js';
import { InvalidInputError, ModelFileError } from '../src/io/errors.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../src/io/safetensors-write.js';
import { parseHookNameLoose } from '../src/sae/external-cfg.js';
import { exportSaeLens, loadSaeLens } from '../src/sae/saelens-format.js';
import { loadSparsify, sparsifyHookFromFolder } from '../src/sae/sparsify-format.js';
import { loadSae } from '../src/sae/load-sae.js';
import { checkSaeFitsModel, type Sae, type SaeActivation, type SaeConfig } from '../src/sae/sae.js';
import { loadSteererSae, SAE_FILE_FORMAT, SAE_META_KEY, saveSae } from '../src/sae/sae-file.js';
import { rng } from './helpers/prng.js';

let root: string;
before(() => { root = mkdtempSync(join(tmpdir(), 'steerer-sae-')); });
after(() => { rmSync(root, { recursive: true, force: true }); });

let counter = 0;
/** A fresh empty directory per case (optionally with a given name, for sparsify's hook-from-folder rule). */
function freshDir(name?: string): string {
  const parent = join(root, `case${counter++}`);
  mkdirSync(parent);
  if (name === undefined) return parent;
  const d = join(parent, name);
  mkdirSync(d);
  return d;
}

function values(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * 4);
}

function bits(a: Float32Array): number[] {
  return [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
}

function makeSae(dIn: number, dSae: number, activation: SaeActivation, cfg: Partial<SaeConfig> = {}, seed = 1): Sae {
  return {
    cfg: {
      dIn,
      dSae,
      activation,
      hook: { layer: 2, site: 'resid_post' },
      applyBDecToInput: true,
      inputScale: 1,
      format: 'steerer',
      ...cfg,
    },
    weights: {
      wEnc: values(dIn * dSae, seed),
      bEnc: values(dSae, seed + 1),
      wDec: values(dSae * dIn, seed + 2),
      bDec: values(dIn, seed + 3),
      ...(activation.kind === 'jumprelu' ? { threshold: values(dSae, seed + 4).map(Math.abs) } : {}),
    },
  };
}

function assertSameWeights(actual: Sae, expected: Sae): void {
  assert.deepEqual(bits(actual.weights.wEnc), bits(expected.weights.wEnc), 'W_enc');
  assert.deepEqual(bits(actual.weights.bEnc), bits(expected.weights.bEnc), 'b_enc');
  assert.deepEqual(bits(actual.weights.wDec), bits(expected.weights.wDec), 'W_dec');
  assert.deepEqual(bits(actual.weights.bDec), bits(expected.weights.bDec), 'b_dec');
  if (expected.weights.threshold) assert.deepEqual(bits(actual.weights.threshold!), bits(expected.weights.threshold), 'threshold');
  else assert.equal(actual.weights.threshold, undefined);
}

/** An assert.throws validator: the error's class, and words its message must contain. */
function fails(cls: typeof ModelFileError | typeof InvalidInputError, ...words: (string | RegExp)[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    for (const w of words) {
      if (typeof w === 'string') assert.ok(err.message.includes(w), `message ${JSON.stringify(err.message)} should contain ${JSON.stringify(w)}`);
      else assert.match(err.message, w);
    }
    return true;
  };
}

// ---------------------------------------------------------------------------------------------
// Fixtures in the external tools' own layouts

type Tensors = Record<string, TensorToWrite>;

function f32(t: TensorToWrite): Float32Array {
  assert.ok(t.data instanceof Float32Array);
  return t.data;
}

function without(t: Tensors, name: string): Tensors {
  return Object.fromEntries(Object.entries(t).filter(([n]) => n !== name));
}

/** SAELens tensors for an SAE, in SAELens' shapes (which are Steerer's). */
function saeLensTensors(sae: Sae): Tensors {
  const { dIn, dSae } = sae.cfg;
  const w = sae.weights;
  return {
    W_enc: { shape: [dIn, dSae], data: w.wEnc },
    b_enc: { shape: [dSae], data: w.bEnc },
    W_dec: { shape: [dSae, dIn], data: w.wDec },
    b_dec: { shape: [dIn], data: w.bDec },
    ...(w.threshold ? { threshold: { shape: [dSae], data: w.threshold } } : {}),
  };
}

function writeFolder(dir: string, weightsName: string, cfg: unknown, tensors: Tensors): string {
  writeFileSync(join(dir, 'cfg.json'), typeof cfg === 'string' ? cfg : JSON.stringify(cfg, null, 2));
  writeSafetensors(join(dir, weightsName), tensors);
  return dir;
}

const saeLensDir = (cfg: unknown, tensors: Tensors, dir = freshDir()): string => writeFolder(dir, 'sae_weights.safetensors', cfg, tensors);
const sparsifyDir = (name: string, cfg: unknown, tensors: Tensors): string => writeFolder(freshDir(name), 'sae.safetensors', cfg, tensors);

/** A pre-6.0 SAELens cfg.json (flat), as the sae_lens 3.x-5.x trainers wrote it. */
function oldSaeLensCfg(dIn: number, dSae: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    d_in: dIn,
    d_sae: dSae,
    activation_fn_str: 'relu',
    apply_b_dec_to_input: true,
    finetuning_scaling_factor: false,
    context_size: 128,
    model_name: 'gpt2-small',
    hook_name: 'blocks.8.hook_resid_pre',
    hook_layer: 8,
    hook_head_index: null,
    prepend_bos: true,
    dataset_path: 'Skylion007/openwebtext',
    dataset_trust_remote_code: true,
    normalize_activations: 'none',
    dtype: 'torch.float32',
    device: 'cpu',
    sae_lens_training_version: '3.5.0',
    ...extra,
  };
}

/** A SAELens 6.x cfg.json: hook and model under "metadata". */
function v6SaeLensCfg(architecture: string, dIn: number, dSae: number, extra: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    d_in: dIn,
    d_sae: dSae,
    dtype: 'float32',
    device: 'cpu',
    apply_b_dec_to_input: true,
    normalize_activations: 'none',
    reshape_activations: 'none',
    metadata: {
      sae_lens_version: '6.5.1',
      sae_lens_training_version: '6.5.1',
      model_name: 'pythia-70m-deduped',
      hook_name: 'blocks.1.hook_mlp_out',
      hook_layer: 1,
      hook_head_index: null,
      prepend_bos: true,
      context_size: 1024,
      ...meta,
    },
    architecture,
    ...extra,
  };
}

/** sparsify's cfg.json: SparseCoderConfig.to_dict() plus d_in. */
function sparsifyCfg(dIn: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    activation: 'topk', expansion_factor: 2, normalize_decoder: true, num_latents: 0, k: 2,
    multi_topk: false, skip_connection: false, transcode: false, d_in: dIn, ...extra,
  };
}

/** sparsify tensors: encoder.weight is an nn.Linear weight [num_latents, d_in]. */
function sparsifyTensors(dIn: number, dSae: number, seed = 10): { tensors: Tensors; encoder: Float32Array } {
  const encoder = values(dSae * dIn, seed);
  return {
    encoder,
    tensors: {
      'encoder.weight': { shape: [dSae, dIn], data: encoder },
      'encoder.bias': { shape: [dSae], data: values(dSae, seed + 1) },
      W_dec: { shape: [dSae, dIn], data: values(dSae * dIn, seed + 2) },
      b_dec: { shape: [dIn], data: values(dIn, seed + 3) },
    },
  };
}

// ---------------------------------------------------------------------------------------------

describe('Steerer SAE files', () => {
  test('round trip is exact for every activation, with optional fields', () => {
    const cases: Sae[] = [
      makeSae(6, 10, { kind: 'topk', k: 3 }, {
        modelName: 'tiny-llama',
        description: 'trained on tinystories',
        training: { tokens: 1_000_000, steps: 250, fvu: 0.12, l0: 3, deadFraction: 0.01, ceLossRecovered: 0.93, corpus: 'tinystories' },
      }),
      makeSae(5, 7, { kind: 'relu' }, { hook: { layer: 0, site: 'attn_out' }, applyBDecToInput: false, inputScale: 0.25 }),
      makeSae(4, 9, { kind: 'jumprelu' }, { hook: { layer: 11, site: 'mlp_out' } }),
    ];
    for (const sae of cases) {
      const dir = freshDir();
      const path = join(dir, 'sae.safetensors');
      saveSae(path, sae);
      assert.deepEqual(readdirSync(dir), ['sae.safetensors']);
      const back = loadSteererSae(path);
      assert.deepEqual(back.cfg, sae.cfg);
      assertSameWeights(back, sae);
      // loadSae detects the layout from the metadata key.
      assert.deepEqual(loadSae(path).cfg, sae.cfg);
    }
  });

  test('the file holds F32 tensors and the config under steerer_sae', () => {
    const sae = makeSae(3, 4, { kind: 'jumprelu' }, { hook: { layer: 5, site: 'resid_mid' } });
    const path = join(freshDir(), 'x.safetensors');
    saveSae(path, sae);
    const f = SafetensorsFile.open(path);
    try {
      const meta = JSON.parse(f.metadata[SAE_META_KEY]) as Record<string, unknown>;
      assert.equal(meta.format, SAE_FILE_FORMAT);
      assert.deepEqual(meta.hook, { layer: 5, site: 'resid_mid' });
      assert.equal('wEnc' in meta, false);
      const shapes = Object.fromEntries([...f.entries].map(([n, e]) => [n, [e.dtype, ...e.shape]]));
      assert.deepEqual(shapes, { W_enc: ['F32', 3, 4], b_enc: ['F32', 4], W_dec: ['F32', 4, 3], b_dec: ['F32', 3], threshold: ['F32', 4] });
    } finally {
      f.close();
    }
  });

  test('an imported SAE saved in our format loads as a steerer SAE, origin kept in the description', () => {
    const dir = saeLensDir(oldSaeLensCfg(4, 6), saeLensTensors(makeSae(4, 6, { kind: 'relu' })));
    const imported = loadSae(dir);
    const path = join(freshDir(), 'mine.safetensors');
    saveSae(path, imported);
    const back = loadSae(path);
    assert.deepEqual(back.cfg, { ...imported.cfg, format: 'steerer' });
    assert.ok(back.cfg.description!.includes('gpt2-small'));
    assertSameWeights(back, imported);
  });

  test('invalid SAEs are refused before anything is written', () => {
    const good = makeSae(4, 6, { kind: 'topk', k: 2 });
    const cases: [string, Sae, string][] = [
      ['short W_enc', { ...good, weights: { ...good.weights, wEnc: new Float32Array(5) } }, 'W_enc has 5 values'],
      ['NaN', { ...good, weights: { ...good.weights, bDec: Float32Array.of(0, NaN, 0, 0) } }, 'non-finite'],
      ['k too big', { ...good, cfg: { ...good.cfg, activation: { kind: 'topk', k: 7 } } }, 'k must be'],
      ['jumprelu without threshold', { ...good, cfg: { ...good.cfg, activation: { kind: 'jumprelu' } } }, 'threshold'],
      ['bad site', { ...good, cfg: { ...good.cfg, hook: { layer: 1, site: 'nowhere' as HookPoint['site'] } } }, 'meta.hook.site'],
      ['negative layer', { ...good, cfg: { ...good.cfg, hook: { layer: -1, site: 'resid_post' } } }, 'meta.hook.layer'],
      ['NaN metric', { ...good, cfg: { ...good.cfg, training: { tokens: 1, steps: 1, fvu: NaN, l0: 1, deadFraction: 0 } } }, 'meta.training.fvu'],
    ];
    for (const [name, sae, word] of cases) {
      const dir = freshDir();
      assert.throws(() => saveSae(join(dir, 's.safetensors'), sae), fails(InvalidInputError, word), name);
      assert.deepEqual(readdirSync(dir), [], `${name}: nothing written`);
    }
  });

  test('saving into a missing folder throws and leaves no temp file', () => {
    const dir = freshDir();
    assert.throws(() => saveSae(join(dir, 'missing', 's.safetensors'), makeSae(3, 4, { kind: 'relu' })), fails(InvalidInputError, 'missing', 'does not exist'));
    assert.deepEqual(readdirSync(dir), []);
    // A failed save over an existing file leaves it untouched.
    const path = join(dir, 's.safetensors');
    saveSae(path, makeSae(3, 4, { kind: 'relu' }));
    const before = readFileSync(path);
    const bad = makeSae(3, 4, { kind: 'relu' });
    assert.throws(() => saveSae(path, { ...bad, weights: { ...bad.weights, wDec: new Float32Array(2) } }), InvalidInputError);
    assert.deepEqual(readFileSync(path), before);
    assert.deepEqual(readdirSync(dir), ['s.safetensors']);
  });

  /** A file with our metadata key but hand-made contents. */
  function handMade(meta: unknown, tensors: Tensors): string {
    const path = join(freshDir(), 'h.safetensors');
    writeSafetensors(path, tensors, { [SAE_META_KEY]: typeof meta === 'string' ? meta : JSON.stringify(meta) });
    return path;
  }
  const goodMeta = { format: SAE_FILE_FORMAT, dIn: 3, dSae: 4, activation: { kind: 'relu' }, hook: { layer: 1, site: 'resid_post' }, applyBDecToInput: true, inputScale: 1 };
  const goodTensors = (): Tensors => saeLensTensors(makeSae(3, 4, { kind: 'relu' }));

  test('corrupt or inconsistent files are ModelFileErrors naming the problem', () => {
    const t = goodTensors();
    const cases: [string, string, string[]][] = [
      ['bad JSON', handMade('{"format":', t), ['not valid JSON']],
      ['other format', handMade({ ...goodMeta, format: 'steerer.sae/v9' }, t), ['unsupported SAE format', 'steerer.sae/v9']],
      ['bad site', handMade({ ...goodMeta, hook: { layer: 1, site: 'hook_z' } }, t), ['meta.hook.site']],
      ['k too big', handMade({ ...goodMeta, activation: { kind: 'topk', k: 9 } }, t), ['k is 9', '4 latents']],
      ['missing tensor', handMade(goodMeta, without(t, 'b_enc')), ['missing tensor "b_enc"']],
      ['width mismatch', handMade({ ...goodMeta, dSae: 5 }, t), ['"W_enc" has shape [3, 4], expected [3, 5]', 'd_sae 5']],
      ['extra tensor', handMade(goodMeta, { ...t, W_skip: { shape: [3, 3], data: new Float32Array(9) } }), ['unexpected tensor "W_skip"']],
      ['jumprelu without threshold', handMade({ ...goodMeta, activation: { kind: 'jumprelu' } }, t), ['missing tensor "threshold"']],
      ['NaN', handMade(goodMeta, { ...t, W_dec: { shape: [4, 3], data: Float32Array.of(0, 0, 0, 0, 0, NaN, 0, 0, 0, 0, 0, 0) } }), ['"W_dec" has a non-finite value (NaN) at index 5']],
    ];
    for (const [name, path, words] of cases) {
      assert.throws(() => loadSteererSae(path), fails(ModelFileError, path, ...words), name);
      assert.throws(() => loadSae(path), fails(ModelFileError, ...words), `${name} via loadSae`);
    }
  });

  test('a truncated file is a ModelFileError', () => {
    const path = join(freshDir(), 't.safetensors');
    saveSae(path, makeSae(4, 6, { kind: 'relu' }));
    const size = readFileSync(path).length;
    truncateSync(path, size - 10);
    assert.throws(() => loadSae(path), fails(ModelFileError, 'truncated'));
    truncateSync(path, 20);
    assert.throws(() => loadSae(path), fails(ModelFileError, path));
  });

  test('hook and inputScale options do not apply to our files', () => {
    const path = join(freshDir(), 's.safetensors');
    saveSae(path, makeSae(3, 4, { kind: 'relu' }));
    assert.throws(() => loadSae(path, { inputScale: 2 }), fails(InvalidInputError, 'do not apply'));
    assert.throws(() => loadSae(path, { hook: { layer: 0, site: 'resid_pre' } }), fails(InvalidInputError, 'do not apply'));
  });
});

// ---------------------------------------------------------------------------------------------

describe('SAELens folders', () => {
  test('old flat layout, standard ReLU', () => {
    const sae = makeSae(4, 6, { kind: 'relu' }, {}, 20);
    const dir = saeLensDir(oldSaeLensCfg(4, 6, { apply_b_dec_to_input: false }), saeLensTensors(sae));
    const back = loadSae(dir);
    assert.deepEqual({ ...back.cfg, description: undefined }, {
      dIn: 4, dSae: 6, activation: { kind: 'relu' }, hook: { layer: 8, site: 'resid_pre' }, applyBDecToInput: false,
      inputScale: 1, modelName: 'gpt2-small', format: 'saelens', description: undefined,
    });
    assert.ok(back.cfg.description!.includes('"hook_name": "blocks.8.hook_resid_pre"'));
    assertSameWeights(back, sae);
    // Pointing at the weights file means the folder.
    assert.deepEqual(loadSae(join(dir, 'sae_weights.safetensors')).cfg, back.cfg);
  });

  test('very old keys (hook_point, boolean normalize_activations) and default apply_b_dec_to_input', () => {
    const sae = makeSae(4, 6, { kind: 'relu' });
    const cfg = oldSaeLensCfg(4, 6, { hook_point: 'blocks.3.hook_resid_post', hook_name: undefined, apply_b_dec_to_input: undefined, normalize_activations: false });
    const back = loadSaeLens(saeLensDir(cfg, saeLensTensors(sae)));
    assert.deepEqual(back.cfg.hook, { layer: 3, site: 'resid_post' });
    assert.equal(back.cfg.applyBDecToInput, true);
    assert.equal(back.cfg.inputScale, 1);
  });

  test('old layout topk: standard architecture with activation_fn topk', () => {
    const sae = makeSae(4, 6, { kind: 'topk', k: 3 });
    const cfg = oldSaeLensCfg(4, 6, { activation_fn_str: 'topk', activation_fn_kwargs: { k: 3 } });
    assert.deepEqual(loadSae(saeLensDir(cfg, saeLensTensors(sae))).cfg.activation, { kind: 'topk', k: 3 });
  });

  test('6.x layout: topk with top-level k, hook and model under metadata (or meta)', () => {
    const sae = makeSae(5, 8, { kind: 'topk', k: 4 });
    for (const key of ['metadata', 'meta']) {
      const cfg = v6SaeLensCfg('topk', 5, 8, { k: 4 });
      if (key === 'meta') {
        cfg.meta = cfg.metadata;
        delete cfg.metadata;
      }
      const back = loadSae(saeLensDir(cfg, saeLensTensors(sae)));
      assert.deepEqual(back.cfg.activation, { kind: 'topk', k: 4 }, key);
      assert.deepEqual(back.cfg.hook, { layer: 1, site: 'mlp_out' }, key);
      assert.equal(back.cfg.modelName, 'pythia-70m-deduped', key);
      assertSameWeights(back, sae);
    }
  });

  test('jumprelu: threshold, log_threshold (exp), and negative thresholds clamped to 0', () => {
    const sae = makeSae(4, 5, { kind: 'jumprelu' });
    const withThreshold = loadSae(saeLensDir(v6SaeLensCfg('jumprelu', 4, 5), saeLensTensors(sae)));
    assert.deepEqual(withThreshold.cfg.activation, { kind: 'jumprelu' });
    assertSameWeights(withThreshold, sae);

    const log = Float32Array.of(-1, 0, 0.5, -3, 2);
    const rest = without(saeLensTensors(sae), 'threshold');
    const fromLog = loadSae(saeLensDir(v6SaeLensCfg('jumprelu', 4, 5), { ...rest, log_threshold: { shape: [5], data: log } }));
    assert.deepEqual([...fromLog.weights.threshold!], [...log].map((v) => Math.fround(Math.exp(v))));

    // SAELens gates ReLU(pre); with t < 0 that equals Steerer's rule at t = 0.
    const neg = loadSae(saeLensDir(v6SaeLensCfg('jumprelu', 4, 5), { ...rest, threshold: { shape: [5], data: Float32Array.of(-0.5, 0.25, 0, -2, 1) } }));
    assert.deepEqual([...neg.weights.threshold!], [0, 0.25, 0, 0, 1]);

    const none = saeLensDir(v6SaeLensCfg('jumprelu', 4, 5), rest);
    assert.throws(() => loadSae(none), fails(ModelFileError, 'needs a "threshold"'));
  });

  test('hook names map to Steerer hook points; others are refused clearly', () => {
    const expected: [string, HookPoint][] = [
      ['blocks.0.hook_resid_pre', { layer: 0, site: 'resid_pre' }],
      ['blocks.4.hook_resid_mid', { layer: 4, site: 'resid_mid' }],
      ['blocks.12.hook_resid_post', { layer: 12, site: 'resid_post' }],
      ['blocks.3.hook_attn_out', { layer: 3, site: 'attn_out' }],
      ['blocks.7.hook_mlp_out', { layer: 7, site: 'mlp_out' }],
    ];
    for (const [name, hook] of expected) assert.deepEqual(parseHookNameLoose(name), hook, name);
    for (const bad of ['blocks.3.attn.hook_z', 'blocks.3.hook_mlp_in', 'hook_embed', 'blocks.2.ln2.hook_normalized', 'blocks.01.hook_resid_pre', 'model.layers.3']) {
      assert.throws(() => parseHookNameLoose(bad), fails(InvalidInputError, bad, 'not a residual/branch output Steerer can hook'), bad);
    }
    const sae = makeSae(4, 6, { kind: 'relu' });
    const dir = saeLensDir(oldSaeLensCfg(4, 6, { hook_name: 'blocks.3.attn.hook_z' }), saeLensTensors(sae));
    assert.throws(() => loadSae(dir), fails(ModelFileError, 'cfg.json', 'blocks.3.attn.hook_z', 'not a residual/branch output'));
    // An explicit hook overrides the file.
    assert.deepEqual(loadSae(dir, { hook: { layer: 3, site: 'attn_out' } }).cfg.hook, { layer: 3, site: 'attn_out' });
    const head = saeLensDir(oldSaeLensCfg(4, 6, { hook_head_index: 2 }), saeLensTensors(sae));
    assert.throws(() => loadSae(head), fails(ModelFileError, 'hook_head_index'));
  });

  test('normalize_activations: factor from cfg, activation_scaler.json or the caller; else a clear error', () => {
    const sae = makeSae(4, 6, { kind: 'relu' });
    const norm = { normalize_activations: 'expected_average_only_in' };
    const missing = saeLensDir(oldSaeLensCfg(4, 6, norm), saeLensTensors(sae));
    assert.throws(() => loadSae(missing), fails(ModelFileError, 'scaling factor is not stored in the file', 'inputScale'));
    assert.equal(loadSae(missing, { inputScale: 0.5 }).cfg.inputScale, 0.5);
    assert.throws(() => loadSae(missing, { inputScale: -1 }), fails(InvalidInputError, 'positive'));
    assert.equal(loadSae(saeLensDir(oldSaeLensCfg(4, 6, { ...norm, scaling_factor: 2.5 }), saeLensTensors(sae))).cfg.inputScale, 2.5);
    assert.equal(loadSae(saeLensDir(oldSaeLensCfg(4, 6, { normalize_activations: true, norm_scaling_factor: 3 }), saeLensTensors(sae))).cfg.inputScale, 3);
    const scalerDir = saeLensDir(v6SaeLensCfg('standard', 4, 6, norm), saeLensTensors(sae));
    writeFileSync(join(scalerDir, 'activation_scaler.json'), JSON.stringify({ scaling_factor: 1.75 }));
    assert.equal(loadSae(scalerDir).cfg.inputScale, 1.75);

    const plain = saeLensDir(oldSaeLensCfg(4, 6), saeLensTensors(sae));
    assert.throws(() => loadSae(plain, { inputScale: 2 }), fails(InvalidInputError, 'not trained on normalised activations'));
    for (const mode of ['constant_norm_rescale', 'layer_norm']) {
      const d = saeLensDir(oldSaeLensCfg(4, 6, { normalize_activations: mode }), saeLensTensors(sae));
      assert.throws(() => loadSae(d), fails(ModelFileError, mode, 'not supported'), mode);
    }
  });

  test('a scaling_factor tensor of ones is ignored; otherwise it is folded into W_dec rows', () => {
    const sae = makeSae(3, 4, { kind: 'relu' });
    const ones = saeLensDir(oldSaeLensCfg(3, 4), { ...saeLensTensors(sae), scaling_factor: { shape: [4], data: new Float32Array(4).fill(1) } });
    assertSameWeights(loadSae(ones), sae);

    const s = Float32Array.of(2, 0.5, 1, -3);
    const folded = loadSae(saeLensDir(oldSaeLensCfg(3, 4, { finetuning_scaling_factor: true }), { ...saeLensTensors(sae), scaling_factor: { shape: [4], data: s } }));
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 3; j++) assert.equal(folded.weights.wDec[i * 3 + j], Math.fround(sae.weights.wDec[i * 3 + j] * s[i]), `W_dec[${i}][${j}]`);
    }
    assert.deepEqual(bits(folded.weights.wEnc), bits(sae.weights.wEnc));
    // SAELens itself refuses a real factor that the config says is unused.
    const contradictory = saeLensDir(oldSaeLensCfg(3, 4), { ...saeLensTensors(sae), scaling_factor: { shape: [4], data: s } });
    assert.throws(() => loadSae(contradictory), fails(ModelFileError, 'finetuning_scaling_factor is false'));
  });

  test('errors: gated, unknown architecture, width mismatch, missing tensor, NaN, bad JSON, missing files', () => {
    const sae = makeSae(4, 6, { kind: 'relu' });
    const t = saeLensTensors(sae);
    const cases: [string, string, (string | RegExp)[]][] = [
      ['gated', saeLensDir(v6SaeLensCfg('gated', 4, 6), t), ['"gated" is not supported', 'standard']],
      ['unknown architecture', saeLensDir(v6SaeLensCfg('matryoshka_batchtopk', 4, 6), t), ['"matryoshka_batchtopk" is not supported']],
      ['tanh-relu', saeLensDir(oldSaeLensCfg(4, 6, { activation_fn_str: 'tanh-relu' }), t), ['"tanh-relu" is not supported']],
      ['topk without k', saeLensDir(v6SaeLensCfg('topk', 4, 6), t), ['needs k']],
      ['width mismatch', saeLensDir(oldSaeLensCfg(4, 8), t), ['"W_enc" has shape [4, 6], expected [4, 8]', 'd_sae 8 from cfg.json']],
      ['d_in mismatch', saeLensDir(oldSaeLensCfg(5, 6), t), ['"W_enc" has shape [4, 6], expected [5, 6]', 'd_in 5']],
      ['missing tensor', saeLensDir(oldSaeLensCfg(4, 6), without(t, 'b_enc')), ['sae_weights.safetensors', 'missing tensor "b_enc"']],
      ['NaN', saeLensDir(oldSaeLensCfg(4, 6), { ...t, b_enc: { shape: [6], data: Float32Array.of(0, 0, Infinity, 0, 0, 0) } }), ['"b_enc" has a non-finite value (Infinity) at index 2']],
      ['extra tensor', saeLensDir(oldSaeLensCfg(4, 6), { ...t, b_gate: { shape: [6], data: new Float32Array(6) } }), ['unexpected tensor "b_gate"', 'not supported']],
      ['bad JSON', saeLensDir('{"d_in": 4, ', t), ['cfg.json', 'not valid JSON']],
      ['JSON array', saeLensDir('[1, 2]', t), ['expected a JSON object']],
      ['d_in not a number', saeLensDir(oldSaeLensCfg(4, 6, { d_in: '4' }), t), ['"d_in" must be a non-negative integer']],
      ['no d_sae', saeLensDir(oldSaeLensCfg(4, 6, { d_sae: undefined }), t), ['no "d_sae"']],
      ['no hook', saeLensDir(oldSaeLensCfg(4, 6, { hook_name: undefined }), t), ['no "hook_name"']],
    ];
    for (const [name, dir, words] of cases) assert.throws(() => loadSae(dir), fails(ModelFileError, ...words), name);

    // cfg.json alone: loadSae says which files it wanted; the direct loader names the missing file.
    const cfgOnly = freshDir();
    writeFileSync(join(cfgOnly, 'cfg.json'), JSON.stringify(oldSaeLensCfg(4, 6)));
    assert.throws(() => loadSae(cfgOnly), fails(InvalidInputError, cfgOnly, 'sae_weights.safetensors', 'sae.safetensors'));
    assert.throws(() => loadSaeLens(cfgOnly), fails(ModelFileError, 'sae_weights.safetensors', 'not found'));
  });

  test('exportSaeLens writes a folder loadSae reads back; the input scale is folded in', () => {
    for (const sae of [
      makeSae(4, 6, { kind: 'topk', k: 2 }, { modelName: 'tiny', hook: { layer: 3, site: 'mlp_out' } }),
      makeSae(4, 6, { kind: 'jumprelu' }, { applyBDecToInput: false }),
      makeSae(4, 6, { kind: 'relu' }),
    ]) {
      const dir = join(freshDir(), 'nested', 'out');
      exportSaeLens(dir, sae);
      assert.deepEqual(readdirSync(dir).sort(), ['cfg.json', 'sae_weights.safetensors']);
      const back = loadSae(dir);
      assert.deepEqual({ ...back.cfg, description: undefined }, { ...sae.cfg, format: 'saelens', description: undefined });
      assertSameWeights(back, sae);
      const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(cfg.hook_name, `blocks.${sae.cfg.hook.layer}.hook_${sae.cfg.hook.site}`);
      assert.deepEqual((cfg.metadata as Record<string, unknown>).hook_name, cfg.hook_name);
    }

    const scaled = makeSae(3, 4, { kind: 'relu' }, { inputScale: 2 });
    const dir = join(freshDir(), 'scaled');
    exportSaeLens(dir, scaled);
    const back = loadSae(dir);
    assert.equal(back.cfg.inputScale, 1);
    assert.deepEqual([...back.weights.wEnc], [...scaled.weights.wEnc].map((v) => Math.fround(v * 2)));
    assert.deepEqual([...back.weights.wDec], [...scaled.weights.wDec].map((v) => Math.fround(v / 2)));
    assert.deepEqual([...back.weights.bDec], [...scaled.weights.bDec].map((v) => Math.fround(v / 2)));
    assertSameWeights({ ...back, weights: { ...back.weights, wEnc: scaled.weights.wEnc, wDec: scaled.weights.wDec, bDec: scaled.weights.bDec } }, scaled);
  });

  test('exportSaeLens refuses what SAELens cannot express and leaves nothing behind', () => {
    const parent = freshDir();
    const neg = makeSae(3, 4, { kind: 'jumprelu' });
    neg.weights.threshold![1] = -0.5;
    assert.throws(() => exportSaeLens(join(parent, 'a'), neg), fails(InvalidInputError, 'negative thresholds'));
    const bad = makeSae(3, 4, { kind: 'relu' });
    assert.throws(() => exportSaeLens(join(parent, 'b'), { ...bad, weights: { ...bad.weights, bEnc: new Float32Array(1) } }), InvalidInputError);
    assert.deepEqual(readdirSync(parent), []);
  });
});

// ---------------------------------------------------------------------------------------------

describe('sparsify folders', () => {
  test('encoder.weight is transposed into W_enc; topk, b_dec subtracted, hook from the folder', () => {
    const dIn = 4;
    const dSae = 8;
    const { tensors, encoder } = sparsifyTensors(dIn, dSae);
    const dir = sparsifyDir('layers.3', sparsifyCfg(dIn), tensors);
    const sae = loadSae(dir);
    assert.deepEqual({ ...sae.cfg, description: undefined }, {
      dIn, dSae, activation: { kind: 'topk', k: 2 }, hook: { layer: 3, site: 'resid_post' }, applyBDecToInput: true,
      inputScale: 1, format: 'sparsify', description: undefined,
    });
    assert.ok(sae.cfg.description!.includes('"expansion_factor": 2'));
    // W_enc[i][j] (d_in i, latent j) = encoder.weight[j][i].
    for (const [i, j] of [[0, 0], [1, 5], [3, 0], [0, 7], [3, 7], [2, 6]]) {
      assert.equal(sae.weights.wEnc[i * dSae + j], encoder[j * dIn + i], `W_enc[${i}][${j}]`);
    }
    for (let i = 0; i < dIn; i++) for (let j = 0; j < dSae; j++) assert.equal(sae.weights.wEnc[i * dSae + j], encoder[j * dIn + i]);
    assert.deepEqual(bits(sae.weights.wDec), bits(f32(tensors.W_dec)));
    assert.deepEqual(bits(sae.weights.bEnc), bits(f32(tensors['encoder.bias'])));
    assert.deepEqual(bits(sae.weights.bDec), bits(f32(tensors.b_dec)));
  });

  test('num_latents and d_in: explicit, 0 = d_in × expansion_factor, or from the tensors', () => {
    const { tensors } = sparsifyTensors(5, 6);
    const explicit = loadSparsify(sparsifyDir('layers.1', sparsifyCfg(5, { num_latents: 6, expansion_factor: 32, d_in: undefined }), tensors));
    assert.equal(explicit.cfg.dIn, 5);
    assert.equal(explicit.cfg.dSae, 6);
    // expansion_factor 2 with d_in 5 says 10 latents; the tensors have 6.
    const mismatch = sparsifyDir('layers.1', sparsifyCfg(5), tensors);
    assert.throws(() => loadSae(mismatch), fails(ModelFileError, 'sae.safetensors', '"encoder.weight" has shape [6, 5], expected [10, 5]', 'num_latents 10 from cfg.json'));
    const wrongDIn = sparsifyDir('layers.1', sparsifyCfg(4, { num_latents: 6 }), tensors);
    assert.throws(() => loadSae(wrongDIn), fails(ModelFileError, 'expected [6, 4]', 'd_in 4 from cfg.json'));
  });

  test('folder names map to hook points', () => {
    const expected: [string, HookPoint | undefined][] = [
      ['layers.0', { layer: 0, site: 'resid_post' }],
      ['layers.12', { layer: 12, site: 'resid_post' }],
      ['layers.4.mlp', { layer: 4, site: 'mlp_out' }],
      ['layers.4.self_attn', { layer: 4, site: 'attn_out' }],
      ['layers.4.attn', { layer: 4, site: 'attn_out' }],
      ['model.layers.2.self_attn', { layer: 2, site: 'attn_out' }],
      ['gpt_neox.layers.1', { layer: 1, site: 'resid_post' }],
      ['gpt_neox.layers.1.attention', { layer: 1, site: 'attn_out' }],
      ['transformer.h.7', { layer: 7, site: 'resid_post' }],
      ['transformer.h.7.mlp', { layer: 7, site: 'mlp_out' }],
      ['embed_tokens', { layer: 0, site: 'resid_pre' }],
      ['model.embed_tokens', { layer: 0, site: 'resid_pre' }],
      ['layers.3.mlp.act_fn', undefined],
      ['layers.x', undefined],
      ['my_sae', undefined],
    ];
    for (const [name, hook] of expected) assert.deepEqual(sparsifyHookFromFolder(name), hook, name);
    const { tensors } = sparsifyTensors(4, 8);
    assert.deepEqual(loadSae(sparsifyDir('layers.5.mlp', sparsifyCfg(4), tensors)).cfg.hook, { layer: 5, site: 'mlp_out' });
    assert.deepEqual(loadSae(sparsifyDir('embed_tokens', sparsifyCfg(4), tensors)).cfg.hook, { layer: 0, site: 'resid_pre' });
  });

  test('an unrecognised folder name needs a hook; the hook option also overrides', () => {
    const { tensors } = sparsifyTensors(4, 8);
    const dir = sparsifyDir('my_sae', sparsifyCfg(4), tensors);
    assert.throws(() => loadSae(dir), fails(InvalidInputError, '"my_sae"', 'pass the hook'));
    assert.deepEqual(loadSae(dir, { hook: { layer: 2, site: 'resid_mid' } }).cfg.hook, { layer: 2, site: 'resid_mid' });
    assert.throws(() => loadSae(dir, { hook: { layer: 1.5, site: 'resid_mid' } }), fails(InvalidInputError, 'invalid hook option'));
    assert.throws(() => loadSae(dir, { hook: { layer: 1, site: 'resid_pre' }, inputScale: 2 }), fails(InvalidInputError, 'input scale does not apply'));
  });

  test('refused variants: skip connection, transcoder, groupmax, unknown tensors; clear errors for missing parts', () => {
    const { tensors } = sparsifyTensors(4, 8);
    const cases: [string, string, (string | RegExp)[]][] = [
      ['skip flag', sparsifyDir('layers.1', sparsifyCfg(4, { skip_connection: true }), tensors), ['skip connections', 'not supported']],
      ['W_skip tensor', sparsifyDir('layers.1', sparsifyCfg(4), { ...tensors, W_skip: { shape: [4, 4], data: new Float32Array(16) } }), ['"W_skip"', 'skip connection']],
      ['transcoder', sparsifyDir('layers.1.mlp', sparsifyCfg(4, { transcode: true }), tensors), ['transcoder']],
      ['groupmax', sparsifyDir('layers.1', sparsifyCfg(4, { activation: 'groupmax' }), tensors), ['"groupmax" is not supported']],
      ['extra tensor', sparsifyDir('layers.1', sparsifyCfg(4), { ...tensors, 'decoder.bias': { shape: [4], data: new Float32Array(4) } }), ['unexpected tensor "decoder.bias"']],
      ['no W_dec', sparsifyDir('layers.1', sparsifyCfg(4), without(tensors, 'W_dec')), ['missing tensor "W_dec"']],
      ['no k', sparsifyDir('layers.1', sparsifyCfg(4, { k: undefined }), tensors), ['no "k"']],
      ['k too big', sparsifyDir('layers.1', sparsifyCfg(4, { k: 9 }), tensors), []],
      ['NaN', sparsifyDir('layers.1', sparsifyCfg(4), { ...tensors, b_dec: { shape: [4], data: Float32Array.of(0, 0, 0, NaN) } }), ['"b_dec" has a non-finite value (NaN) at index 3']],
    ];
    for (const [name, dir, words] of cases) {
      assert.throws(() => loadSae(dir), (err: unknown) => {
        if (name === 'k too big') return fails(InvalidInputError, 'k must be an integer in 1..8')(err);
        return fails(ModelFileError, ...words)(err);
      }, name);
    }
  });

  test('a run folder holding several SAE folders asks for one; the model name comes from the run config', () => {
    const { tensors } = sparsifyTensors(4, 8);
    const a = sparsifyDir('layers.0', sparsifyCfg(4), tensors);
    const run = join(a, '..');
    mkdirSync(join(run, 'layers.1'));
    writeFolder(join(run, 'layers.1'), 'sae.safetensors', sparsifyCfg(4), tensors);
    assert.throws(() => loadSae(run), fails(InvalidInputError, 'holds 2 SAE folders', 'layers.0, layers.1', 'pass one of them'));
    assert.equal(loadSae(a).cfg.modelName, undefined);
    writeFileSync(join(run, 'config.json'), JSON.stringify({ model: 'EleutherAI/pythia-70m', dataset: 'x' }));
    assert.equal(loadSae(a).cfg.modelName, 'EleutherAI/pythia-70m');
  });
});

// ---------------------------------------------------------------------------------------------

describe('layout detection and model fit', () => {
  test('paths that are not SAEs say what was expected', () => {
    const dir = freshDir();
    assert.throws(() => loadSae(join(dir, 'nope')), fails(ModelFileError, 'not found'));
    assert.throws(() => loadSae(dir), fails(InvalidInputError, dir, 'no cfg.json', 'sae_weights.safetensors', 'sae.safetensors', 'steerer_sae'));
    const txt = join(dir, 'notes.txt');
    writeFileSync(txt, 'hello');
    assert.throws(() => loadSae(txt), fails(InvalidInputError, txt, 'not a .safetensors file'));
    const plain = join(dir, 'plain.safetensors');
    writeSafetensors(plain, { x: { shape: [2], data: new Float32Array(2) } });
    assert.throws(() => loadSae(plain), fails(InvalidInputError, plain, 'no "steerer_sae" key'));
    assert.throws(() => loadSteererSae(plain), fails(ModelFileError, 'not a Steerer SAE file'));
  });

  test('checkSaeFitsModel: width and layer range', () => {
    const sae = makeSae(8, 16, { kind: 'relu' }, { hook: { layer: 5, site: 'resid_post' } });
    checkSaeFitsModel(sae, { hiddenSize: 8, numLayers: 6 });
    assert.throws(() => checkSaeFitsModel(sae, { hiddenSize: 16, numLayers: 6 }), fails(InvalidInputError, '8-wide', 'hidden size is 16'));
    assert.throws(() => checkSaeFitsModel(sae, { hiddenSize: 8, numLayers: 5 }), fails(InvalidInputError, 'blocks.5.hook_resid_post', 'layers 0..4'));
  });
});

// ---------------------------------------------------------------------------------------------

describe('fuzz: corrupted SAE files fail only with Steerer errors', { timeout: 60_000 }, () => {
  function probe(label: string, load: () => Sae): boolean {
    try {
      load();
      return true;
    } catch (err) {
      if (!(err instanceof ModelFileError) && !(err instanceof InvalidInputError)) {
        assert.fail(`${label}: expected ModelFileError or InvalidInputError, got ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
      }
      assert.ok(err.message.length > 0 && !err.message.includes('\n'), `${label}: message should be one line: ${err.message}`);
      return false;
    }
  }

  test('Steerer file: truncations and byte changes', () => {
    const dir = freshDir();
    const good = join(dir, 'good.safetensors');
    saveSae(good, makeSae(3, 5, { kind: 'topk', k: 2 }, { modelName: 'm', training: { tokens: 10, steps: 2, fvu: 0.5, l0: 2, deadFraction: 0 } }));
    const original = readFileSync(good);
    const headerEnd = 8 + Number(original.readBigUInt64LE(0));
    const path = join(dir, 'case.safetensors');
    const r = rng(99);
    let rejected = 0;
    const run = (label: string, bytes: Uint8Array): void => {
      writeFileSync(path, bytes);
      if (!probe(label, () => loadSae(path))) rejected++;
    };
    for (let n = 0; n < original.length; n += n < headerEnd + 16 ? 1 : 7) run(`truncated to ${n}`, original.subarray(0, n));
    for (let c = 0; c < 400; c++) {
      const bytes = Buffer.from(original);
      // Mostly the header (JSON and metadata), sometimes the data (NaN/Inf patterns).
      const span = r() < 0.8 ? headerEnd : original.length;
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) {
        const at = Math.floor(r() * span);
        bytes[at] = r() < 0.5 ? bytes[at] ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256);
      }
      run(`flip case ${c}`, bytes);
    }
    assert.ok(rejected > 200, `rejected ${rejected}`);
  });

  test('SAELens cfg.json: truncations and byte changes', () => {
    const sae = makeSae(3, 4, { kind: 'topk', k: 2 });
    const dir = saeLensDir(v6SaeLensCfg('topk', 3, 4, { k: 2 }), saeLensTensors(sae));
    const text = Buffer.from(readFileSync(join(dir, 'cfg.json')));
    const r = rng(7);
    for (let n = 0; n < text.length; n += 3) {
      writeFileSync(join(dir, 'cfg.json'), text.subarray(0, n));
      probe(`cfg truncated to ${n}`, () => loadSae(dir));
    }
    for (let c = 0; c < 300; c++) {
      const bytes = Buffer.from(text);
      const at = Math.floor(r() * bytes.length);
      bytes[at] = Math.floor(r() * 256);
      writeFileSync(join(dir, 'cfg.json'), bytes);
      probe(`cfg flip ${c} at ${at}`, () => loadSae(dir));
    }
  });
});
