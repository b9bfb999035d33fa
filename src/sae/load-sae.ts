/**
 * One entry point for SAEs on disk, whatever made them:
 *   a .safetensors file with `steerer_sae` metadata → Steerer's format (sae-file.ts);
 *   a folder with cfg.json + sae_weights.safetensors → SAELens;
 *   a folder with cfg.json + sae.safetensors → sparsify.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import type { SaeLoadOptions } from './external-cfg.js';
import { loadSaeLens, SAELENS_CFG, SAELENS_WEIGHTS } from './saelens-format.js';
import { loadSparsify, SPARSIFY_CFG, SPARSIFY_WEIGHTS } from './sparsify-format.js';
import type { Sae } from './sae.js';
import { isSteererSaeFile, loadSteererSae, SAE_META_KEY } from './sae-file.js';

export type { SaeLoadOptions } from './external-cfg.js';

const EXPECTED =
  `expected a Steerer SAE file (.safetensors with "${SAE_META_KEY}" metadata), a SAELens folder ` +
  `(${SAELENS_CFG} + ${SAELENS_WEIGHTS}) or a sparsify folder (${SPARSIFY_CFG} + ${SPARSIFY_WEIGHTS})`;

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Load an SAE from a file or folder, detecting the layout (see the module comment). */
export function loadSae(path: string, opts: SaeLoadOptions = {}): Sae {
  let isDir: boolean;
  try {
    const st = statSync(path);
    if (!st.isDirectory() && !st.isFile()) throw new InvalidInputError(`${path}: not a file or folder; ${EXPECTED}`);
    isDir = st.isDirectory();
  } catch (err) {
    if (err instanceof InvalidInputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelFileError(path, code === 'ENOENT' ? 'not found' : `cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return isDir ? loadFolder(path, opts) : loadFile(path, opts);
}

function loadFile(path: string, opts: SaeLoadOptions): Sae {
  if (!path.toLowerCase().endsWith('.safetensors')) throw new InvalidInputError(`${path}: not an SAE (not a .safetensors file); ${EXPECTED}`);
  const f = SafetensorsFile.open(path);
  let ours: boolean;
  try {
    ours = isSteererSaeFile(f);
  } finally {
    f.close();
  }
  if (ours) {
    if (opts.hook !== undefined || opts.inputScale !== undefined) {
      throw new InvalidInputError(`${path}: a Steerer SAE file states its own hook and input scale; hook and inputScale options do not apply`);
    }
    return loadSteererSae(path);
  }
  // Pointing at the weights inside a SAELens or sparsify folder means the folder.
  const name = basename(path);
  if ((name === SAELENS_WEIGHTS || name === SPARSIFY_WEIGHTS) && isFile(join(dirname(path), SAELENS_CFG))) {
    return loadFolder(dirname(path), opts);
  }
  throw new InvalidInputError(`${path}: not a Steerer SAE file (its safetensors metadata has no "${SAE_META_KEY}" key); ${EXPECTED}`);
}

function loadFolder(dir: string, opts: SaeLoadOptions): Sae {
  const has = (name: string): boolean => isFile(join(dir, name));
  if (has(SAELENS_CFG) && has(SAELENS_WEIGHTS)) return loadSaeLens(dir, opts);
  if (has(SPARSIFY_CFG) && has(SPARSIFY_WEIGHTS)) return loadSparsify(dir, opts);
  // A sparsify run (or a hub download) holds one SAE folder per hookpoint.
  let inner: string[] = [];
  try {
    inner = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, SAELENS_CFG)))
      .map((d) => d.name)
      .sort();
  } catch {
    // Unreadable folder: the generic message below still says what was expected.
  }
  if (inner.length > 0) {
    const shown = inner.slice(0, 6).join(', ') + (inner.length > 6 ? ', ...' : '');
    throw new InvalidInputError(`${dir}: this folder holds ${inner.length} SAE folder${inner.length === 1 ? '' : 's'} (${shown}); pass one of them`);
  }
  const found = has(SAELENS_CFG)
    ? `${SAELENS_CFG} is there but neither ${SAELENS_WEIGHTS} nor ${SPARSIFY_WEIGHTS}`
    : `no ${SAELENS_CFG}`;
  throw new InvalidInputError(`${dir}: not an SAE folder (${found}); ${EXPECTED}`);
}
