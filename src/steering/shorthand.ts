import { InvalidInputError } from '../io/errors.js';

/**
 * The two small languages users type on command lines: layer lists ("3", "2,5,7", "4-8") and
 * FILE[:number] terms (--steer FILE:4, vector combine a.safetensors:1 b.safetensors:-1). One
 * parser each, shared by every command.
 */

/**
 * Layers written as N, N-M or a comma list of those, sorted and without repeats. Every layer must
 * be below `limit`, checked before a range is spelled out (a request for layers 0-1e9 allocates
 * nothing); `outOfRange` words the error.
 */
export function parseLayerList(text: string, opts: { limit: number; flag: string; outOfRange: (layer: number) => string; alsoAccepted?: string }): number[] {
  const layers = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(part);
    if (!m) throw new InvalidInputError(`${opts.flag} expects N, N-M or a comma list of them${opts.alsoAccepted ? ` (or ${opts.alsoAccepted})` : ''}, got "${text}"`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (Math.max(a, b) >= opts.limit) throw new InvalidInputError(opts.outOfRange(Math.max(a, b)));
    for (let l = Math.min(a, b); l <= Math.max(a, b); l++) layers.add(l);
  }
  return [...layers].sort((x, y) => x - y);
}

/**
 * FILE or FILE:number (the number may be negative or in exponent form); the number stays text for
 * the caller to check. A suffix that is meant as a number but is none (FILE:NaN, FILE:inf,
 * FILE:abc after a file name with an extension) is refused as such, not taken for part of the
 * file's name; a suffix with a path separator in it (C:\models\v.safetensors) is a path.
 */
export function splitFileNumber(term: string): { file: string; number?: string } {
  const m = /^(.+?)(?::(-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?))?$/i.exec(term);
  if (!m) throw new InvalidInputError(`expected FILE or FILE:number, got "${term}"`);
  if (m[2] !== undefined) return { file: m[1], number: m[2] };
  const colon = term.lastIndexOf(':');
  const suffix = colon > 0 ? term.slice(colon + 1) : '';
  const head = term.slice(0, colon);
  if (colon > 0 && !/[\\/]/.test(suffix) && (/^[+-]?(nan|inf(inity)?)$/i.test(suffix) || /\.\w+$/.test(head))) {
    throw new InvalidInputError(`"${term}": the number after "${head}:" must be a finite number, got "${suffix}"`);
  }
  return { file: m[1] };
}
