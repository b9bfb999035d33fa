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

interface TrieNode {
  readonly next: Map<number, TrieNode>;
  /** The stop string ending here and its position in the list (first listed wins ties). */
  stop?: { readonly text: string; readonly order: number };
  /** Some marker continues past this node: text ending here may be a cut-off marker. */
  markerPrefix?: boolean;
}

/**
 * A compiled set of stop strings (a trie over UTF-16 units). Build it once and share it
 * between matchers: a tokenizer can have thousands of special tokens (Gemma's unused ones),
 * and a trie keeps the work per token independent of how many there are.
 *
 * `markers` (special-token texts) stop generation like `stops`, and more: no part of one is
 * ever shown, so a marker cut off by the end of generation is dropped too.
 */
export class StopSet {
  readonly size: number;
  /** Length of the longest stop string. */
  readonly maxLength: number;
  private readonly root: TrieNode = { next: new Map() };

  constructor(stops: readonly string[], markers: readonly string[] = []) {
    let size = 0;
    let maxLength = 0;
    const all = [...stops, ...markers];
    all.forEach((s, order) => {
      if (typeof s !== 'string' || s.length === 0) {
        throw new InvalidInputError('stop strings must be non-empty strings');
      }
      const marker = order >= stops.length;
      let node = this.root;
      for (let i = 0; i < s.length; i++) {
        if (marker && i > 0) node.markerPrefix = true;
        const c = s.charCodeAt(i);
        let child = node.next.get(c);
        if (!child) {
          child = { next: new Map() };
          node.next.set(c, child);
        }
        node = child;
      }
      if (!node.stop) {
        node.stop = { text: s, order };
        size++;
        maxLength = Math.max(maxLength, s.length);
      }
    });
    this.size = size;
    this.maxLength = maxLength;
  }

  /** The earliest stop string in text[from..] (on a tie, the first listed), if any. */
  find(text: string, from: number): { readonly at: number; readonly stop: string } | undefined {
    if (this.size === 0) return undefined;
    for (let at = from; at < text.length; at++) {
      let node: TrieNode | undefined = this.root;
      let best: TrieNode['stop'];
      for (let j = at; j < text.length; j++) {
        node = node.next.get(text.charCodeAt(j));
        if (!node) break;
        if (node.stop && (!best || node.stop.order < best.order)) best = node.stop;
      }
      if (best) return { at, stop: best.text };
    }
    return undefined;
  }

  /** Whether text[h..] is a proper prefix of some stop string (of some marker, with `markersOnly`). */
  couldStartAt(text: string, h: number, markersOnly = false): boolean {
    let node: TrieNode | undefined = this.root;
    for (let j = h; j < text.length; j++) {
      node = node.next.get(text.charCodeAt(j));
      if (!node) return false;
    }
    return markersOnly ? node.markerPrefix === true : node.next.size > 0;
  }

  /** Where the held-back tail text[from..] must end at the end of generation: before a cut-off marker. */
  flushEnd(text: string, from: number): number {
    for (let h = Math.max(from, text.length - this.maxLength + 1); h < text.length; h++) {
      if (this.couldStartAt(text, h, true)) return h;
    }
    return text.length;
  }
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
  private readonly stops: StopSet;
  private text = '';
  private emitted = 0;
  private done = false;

  /** Plain stop strings, or a shared StopSet (which may also hold markers). */
  constructor(stopStrings: readonly string[] | StopSet) {
    this.stops = stopStrings instanceof StopSet ? stopStrings : new StopSet(stopStrings);
  }

  get stopped(): boolean {
    return this.done;
  }

  push(fullText: string): StopPush {
    if (this.done) return { stopped: true, emit: '' };
    this.text = fullText;
    const from = Math.min(this.emitted, fullText.length);

    const found = this.stops.find(fullText, from);
    if (found) {
      // Whatever precedes the stop is final, even a U+FFFD: no more tokens will follow.
      this.done = true;
      const emit = fullText.slice(from, found.at);
      this.emitted = found.at;
      return { stopped: true, emit, stopString: found.stop };
    }

    let end = safeStreamEnd(fullText);
    // Hold back the longest tail that a stop string could still complete.
    const len = fullText.length;
    for (let h = Math.max(from, len - this.stops.maxLength + 1); h < len && h < end; h++) {
      if (this.stops.couldStartAt(fullText, h)) {
        end = h;
        break;
      }
    }
    if (end <= from) return { stopped: false, emit: '' };
    this.emitted = end;
    return { stopped: false, emit: fullText.slice(from, end) };
  }

  /** Whether the text ends in what could be the start of a marker (the model may be spelling its end marker). */
  get spellingMarker(): boolean {
    if (this.done) return false;
    return this.stops.flushEnd(this.text, Math.min(this.emitted, this.text.length)) < this.text.length;
  }

  /** At the end of generation: the held-back remainder (empty after a stop), less any cut-off marker. */
  flush(): string {
    if (this.done) return '';
    const from = Math.min(this.emitted, this.text.length);
    const rest = this.text.slice(from, this.stops.flushEnd(this.text, from));
    this.emitted = this.text.length;
    return rest;
  }
}
