/**
 * Loading one fuzz case and classifying what happened. Runs inside a worker process (child.ts);
 * crashes, hangs and memory blow-ups are seen by the parent, everything else is decided here.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadSae, loadVector, openModel, SteererError, validateVector } from './api.js';
import type { FileKind } from './seeds.js';

export type Outcome = 'typed' | 'success' | 'untyped' | 'crash' | 'hang' | 'blowup' | 'nan';
export const OUTCOMES: readonly Outcome[] = ['typed', 'success', 'untyped', 'crash', 'hang', 'blowup', 'nan'];
/** Outcomes that count as failures of the loaders. */
export const BAD: ReadonlySet<Outcome> = new Set(['untyped', 'crash', 'hang', 'blowup', 'nan']);

export interface CaseResult {
  readonly outcome: Outcome;
  /** The error message (first line, trimmed) or what was wrong with a success. */
  readonly message?: string;
  /** Error class name, for typed and untyped errors. */
  readonly error?: string;
  /** A typed error whose message does not mention the file or folder it is about. */
  readonly unnamed?: boolean;
  /** Top of the stack of an untyped error. */
  readonly stack?: string;
}

/** Writes a case's files under `dir` (emptied first). */
export function writeCase(dir: string, files: ReadonlyMap<string, Buffer>): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [rel, bytes] of files) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, bytes);
  }
}

const PROMPT = 'Once upon a time';

function nonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/** Load `target` as what `kind` says; a loaded model runs one forward pass, a vector or SAE is checked for finite values. */
export async function runCase(kind: FileKind, target: string, dir: string): Promise<CaseResult> {
  try {
    if (kind === 'vector') {
      const v = loadVector(target);
      for (const [layer, d] of [...v.directions, ...(v.means ?? [])]) {
        const bad = nonFinite(d);
        if (bad >= 0) return { outcome: 'nan', message: `layer ${layer} value ${bad} is ${d[bad]}` };
      }
      validateVector(v);
      return { outcome: 'success' };
    }
    if (kind === 'sae') {
      const sae = loadSae(target);
      for (const [name, w] of Object.entries(sae.weights)) {
        const bad = w ? nonFinite(w) : -1;
        if (bad >= 0) return { outcome: 'nan', message: `${name}[${bad}] is ${w![bad]}` };
      }
      return { outcome: 'success' };
    }
    const model = openModel(target, { threads: 1 });
    try {
      let ids = model.encode(PROMPT).slice(0, 8);
      if (ids.length === 0) ids = [0];
      const out = await model.forward({ tokens: [ids], logits: 'all' });
      const bad = nonFinite(out.logits!);
      if (bad >= 0) return { outcome: 'nan', message: `logit ${bad} of ${out.logits!.length} is ${out.logits![bad]} (tokens ${ids.join(',')})` };
      return { outcome: 'success' };
    } finally {
      await model.dispose();
    }
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const message = e.message ?? '';
    if (err instanceof SteererError && !message.includes('\n') && message.length > 0) {
      return { outcome: 'typed', error: e.name, message: message.slice(0, 400), unnamed: !message.includes(dir) };
    }
    return {
      outcome: 'untyped',
      error: e.name,
      message: message.replace(/\s+/g, ' ').slice(0, 400),
      stack: (e.stack ?? '').split('\n').slice(1, 7).map((l) => l.trim()).join(' | '),
    };
  }
}
