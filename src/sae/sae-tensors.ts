/**
 * Small helpers shared by the SAE file readers: checked tensor reads and
 * trimming of provenance text. Every failure is a ModelFileError naming the file.
 */
import { ModelFileError } from '../io/errors.js';
import type { SafetensorsEntry, SafetensorsFile } from '../io/safetensors.js';

/** An SAE is stored as floats; an integer tensor under one of its names is a different file. */
const FLOAT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64']);

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The entry for `name`, checked to exist and to hold floats. */
export function floatEntry(f: SafetensorsFile, name: string, expected?: readonly number[]): SafetensorsEntry {
  const e = f.entries.get(name);
  if (!e) {
    throw new ModelFileError(f.path, `missing tensor ${quote(name)}${expected ? ` (expected shape ${shapeText(expected)})` : ''}`);
  }
  if (!FLOAT_DTYPES.has(e.dtype)) throw new ModelFileError(f.path, `tensor ${quote(name)} has dtype ${e.dtype}; SAE weights must be floating point`);
  return e;
}

/** Read every value of a float tensor as float32 and check each is finite. */
export function readFinite(f: SafetensorsFile, name: string): Float32Array {
  floatEntry(f, name);
  const values = f.readF32(name);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new ModelFileError(f.path, `tensor ${quote(name)} has a non-finite value (${values[i]}) at index ${i}`);
    }
  }
  return values;
}

/**
 * Read a float tensor that must have exactly `shape`; `dims` says where the expected sizes came
 * from (e.g. "d_in 512, d_sae 4096 from cfg.json"), so a width mismatch is easy to diagnose.
 */
export function readTensor(f: SafetensorsFile, name: string, shape: readonly number[], dims: string): Float32Array {
  const e = floatEntry(f, name, shape);
  if (!sameShape(e.shape, shape)) {
    throw new ModelFileError(f.path, `tensor ${quote(name)} has shape ${shapeText(e.shape)}, expected ${shapeText(shape)} (${dims})`);
  }
  return readFinite(f, name);
}

/** Fail on any tensor whose name is not in `allowed`: an unknown tensor means an SAE variant we would silently misread. */
export function checkNoExtraTensors(f: SafetensorsFile, allowed: readonly string[], hint: string): void {
  for (const name of f.entries.keys()) {
    if (!allowed.includes(name)) throw new ModelFileError(f.path, `unexpected tensor ${quote(name)}: ${hint}`);
  }
}


/** Provenance text (an imported cfg.json) is kept for cards, but a huge config should not bloat every SAE. */
const MAX_DESCRIPTION_CHARS = 4000;

export function trimDescription(text: string): string {
  const t = text.trim();
  return t.length <= MAX_DESCRIPTION_CHARS ? t : `${t.slice(0, MAX_DESCRIPTION_CHARS)}... (truncated, ${t.length} characters in all)`;
}
