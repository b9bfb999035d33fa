import { InvalidInputError } from '../io/errors.js';

const REPLACEMENT = 0xfffd;

/**
 * Length of the prefix of `text` that is safe to show while streaming: trailing U+FFFD
 * (what a decoder yields for a multi-byte character whose remaining byte-fallback tokens
 * have not arrived yet) and a trailing lone high surrogate are held back, since the next
 * token usually turns them into a real character.
 */
function safeStreamEnd(text: string): number {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === REPLACEMENT) end--;
  if (end > 0) {
    const c = text.charCodeAt(end - 1);
    if (c >= 0xd800 && c <= 0xdbff) end--;
  }
  return end;
}

/** `text` without its possibly-incomplete tail (see safeStreamEnd). */
export function safeStreamPrefix(text: string): string {
  return text.slice(0, safeStreamEnd(text));
}

interface StopPush {
  /** A stop string has been found; generation should end. */
  stopped: boolean;
  /** New text that is safe to show now (on a stop: up to, not including, the stop string). */
  emit: string;
  /** Which stop string ended generation (the earliest occurrence; on a tie, the first listed). */
  stopString?: string;
}

/**
 * Finds stop strings in streamed text, even when they straddle token boundaries.
 *
 * Each push gets the whole decoded text so far (re-decoding the full id list is what makes
 * byte-fallback tokens come out right). Text is emitted only once it can no longer be the
 * start of a stop string, so a stop string is never partially shown, and the concatenation
 * of all emits (plus flush) is exactly the text before the stop.
 *
 * Invariant: emitted text never contains the start of a stop string, so searches start at
 * the emitted boundary and the work per push is proportional to the unemitted tail.
 */
export class StopMatcher {
  private readonly stops: readonly string[];
  private readonly maxLen: number;
  private text = '';
  private emitted = 0;
  private done = false;

  constructor(stopStrings: readonly string[]) {
    for (const s of stopStrings) {
      if (typeof s !== 'string' || s.length === 0) {
        throw new InvalidInputError('stop strings must be non-empty strings');
      }
    }
    this.stops = [...new Set(stopStrings)];
    this.maxLen = this.stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  get stopped(): boolean {
    return this.done;
  }

  push(fullText: string): StopPush {
    if (this.done) return { stopped: true, emit: '' };
    this.text = fullText;
    const from = Math.min(this.emitted, fullText.length);

    let cut = -1;
    let which: string | undefined;
    for (const s of this.stops) {
      const i = fullText.indexOf(s, from);
      if (i >= 0 && (cut < 0 || i < cut)) {
        cut = i;
        which = s;
      }
    }
    if (cut >= 0) {
      // Whatever precedes the stop is final, even a U+FFFD: no more tokens will follow.
      this.done = true;
      const emit = fullText.slice(from, cut);
      this.emitted = cut;
      return { stopped: true, emit, stopString: which };
    }

    let end = safeStreamEnd(fullText);
    // Hold back the longest tail that a stop string could still complete.
    const len = fullText.length;
    for (let h = Math.max(from, len - this.maxLen + 1); h < len && h < end; h++) {
      if (this.stops.some((s) => isPrefixAt(fullText, h, s))) {
        end = h;
        break;
      }
    }
    if (end <= from) return { stopped: false, emit: '' };
    this.emitted = end;
    return { stopped: false, emit: fullText.slice(from, end) };
  }

  /** At the end of generation: the held-back remainder (empty after a stop). */
  flush(): string {
    if (this.done) return '';
    const rest = this.text.slice(Math.min(this.emitted, this.text.length));
    this.emitted = this.text.length;
    return rest;
  }
}

/** Whether text[h..] is a proper prefix of s (it is shorter than s and matches its start). */
function isPrefixAt(text: string, h: number, s: string): boolean {
  const n = text.length - h;
  if (n >= s.length) return false;
  for (let i = 0; i < n; i++) {
    if (text.charCodeAt(h + i) !== s.charCodeAt(i)) return false;
  }
  return true;
}
