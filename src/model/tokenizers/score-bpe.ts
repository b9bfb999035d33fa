import { InvalidInputError } from '../../io/errors.js';
import { markerTexts, type TextTokenizer } from '../tokenizer.js';

/** SentencePiece / GGUF token types (tokenizer.ggml.token_type). */
export const TokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

interface ScoreBpeOptions {
  /** Vocabulary pieces by id, as stored (spaces written as `spaceSymbol`). */
  readonly pieces: readonly string[];
  /** Merge priority of each piece: the adjacent pair whose concatenation scores highest merges first. */
  readonly scores: ArrayLike<number>;
  /** Token types by id (see TokenType). Absent: `<0xNN>` pieces are bytes, the rest normal. */
  readonly tokenTypes?: ArrayLike<number>;
  /** How pieces spell a space: ' ' (llama2.c tokenizer.bin) or '▁' (SentencePiece / GGUF). */
  readonly spaceSymbol?: string;
  /** Prepend one space to each text fragment (SentencePiece's dummy prefix). Default true. */
  readonly addSpacePrefix?: boolean;
  /** Recognise control/unknown token strings in the input as single ids (user-defined ones always are). */
  readonly parseSpecial?: boolean;
  /** Id emitted for text that has neither a piece nor byte tokens. */
  readonly unkId?: number;
  /** Extra names tokenToId accepts (e.g. "<s>" for llama2.c's "\n<s>\n" piece). */
  readonly aliases?: Readonly<Record<string, number>>;
  /** Marker texts besides the control/unknown pieces (e.g. the BOS/EOS pieces whatever their type). */
  readonly specialTexts?: readonly string[];
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

interface Bigram {
  readonly left: number;
  readonly right: number;
  readonly score: number;
  /** Length (UTF-16 units) of the merged text; a stale entry no longer matches it. */
  readonly size: number;
}

/** Binary max-heap on score, ties to the leftmost pair (what llama2.c's linear scan picks). */
class BigramHeap {
  private readonly items: Bigram[] = [];

  get size(): number {
    return this.items.length;
  }

  private before(a: Bigram, b: Bigram): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }

  push(x: Bigram): void {
    const h = this.items;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  pop(): Bigram | undefined {
    const h = this.items;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l], h[m])) m = l;
        if (r < h.length && this.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * SentencePiece-style BPE: split text into code points, then repeatedly merge the adjacent
 * pair whose concatenation is a vocabulary piece with the highest score (llama2.c encode(),
 * llama.cpp's SPM tokenizer). Code points without a piece fall back to `<0xNN>` byte tokens.
 */
export class ScoreBpeTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly specialTexts: readonly string[];
  private readonly pieces: readonly string[];
  private readonly scores: Float64Array;
  private readonly types: Uint8Array;
  private readonly space: string;
  private readonly addSpacePrefix: boolean;
  private readonly unkId: number | undefined;
  /** Pieces that text may be segmented into (normal and user-defined), first id wins. */
  private readonly textPieces = new Map<string, number>();
  private readonly anyPiece = new Map<string, number>();
  private readonly byteId = new Int32Array(256).fill(-1);
  /** byte value of a byte token, -1 otherwise. */
  private readonly byteOf: Int16Array;
  private readonly specialIds = new Map<string, number>();
  private readonly specialRe: RegExp | undefined;
  private readonly aliases: ReadonlyMap<string, number>;

  constructor(opts: ScoreBpeOptions) {
    const n = opts.pieces.length;
    if (opts.scores.length !== n) throw new Error(`ScoreBpe: ${n} pieces but ${opts.scores.length} scores`);
    if (opts.tokenTypes && opts.tokenTypes.length !== n) {
      throw new Error(`ScoreBpe: ${n} pieces but ${opts.tokenTypes.length} token types`);
    }
    this.vocabSize = n;
    this.pieces = opts.pieces;
    this.scores = Float64Array.from(opts.scores);
    this.space = opts.spaceSymbol ?? ' ';
    this.addSpacePrefix = opts.addSpacePrefix ?? true;
    this.byteOf = new Int16Array(n).fill(-1);
    this.types = new Uint8Array(n);
    const specials: string[] = [];
    for (let id = 0; id < n; id++) {
      const piece = opts.pieces[id];
      const byteMatch = BYTE_PIECE.exec(piece);
      let type: number = opts.tokenTypes ? opts.tokenTypes[id] : byteMatch ? TokenType.BYTE : TokenType.NORMAL;
      // A "<0xNN>" piece typed normal is still a byte token for practical purposes.
      if (byteMatch && type === TokenType.NORMAL) type = TokenType.BYTE;
      this.types[id] = type;
      if (!this.anyPiece.has(piece)) this.anyPiece.set(piece, id);
      if (type === TokenType.BYTE && byteMatch) {
        const b = parseInt(byteMatch[1], 16);
        this.byteOf[id] = b;
        if (this.byteId[b] < 0) this.byteId[b] = id;
      } else if ((type === TokenType.NORMAL || type === TokenType.USER_DEFINED) && piece.length > 0) {
        if (!this.textPieces.has(piece)) this.textPieces.set(piece, id);
      }
      const parsed =
        type === TokenType.USER_DEFINED ||
        (opts.parseSpecial === true && (type === TokenType.CONTROL || type === TokenType.UNKNOWN));
      if (parsed && piece.length > 0 && !this.specialIds.has(piece)) {
        this.specialIds.set(piece, id);
        specials.push(piece);
      }
    }
    let unk = opts.unkId;
    if (unk === undefined) {
      const i = this.types.indexOf(TokenType.UNKNOWN);
      if (i >= 0) unk = i;
    }
    this.unkId = unk;
    // Longest first, so a special token that contains another wins.
    specials.sort((a, b) => b.length - a.length);
    this.specialRe = specials.length > 0 ? new RegExp(specials.map(escapeRegExp).join('|'), 'g') : undefined;
    this.aliases = new Map(Object.entries(opts.aliases ?? {}));
    // Trimmed: llama2.c stores "<s>" as "\n<s>\n", but a model spells the marker itself.
    const controlTexts: string[] = [];
    for (let id = 0; id < n; id++) {
      if (this.types[id] === TokenType.CONTROL || this.types[id] === TokenType.UNKNOWN) controlTexts.push(opts.pieces[id].replaceAll(this.space, ' ').trim());
    }
    this.specialTexts = markerTexts([...controlTexts, ...(opts.specialTexts ?? [])]);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    if (text.length === 0) return out;
    // Like llama.cpp: a fragment at the start or right after a special token gets the dummy prefix.
    let afterSpecial = true;
    let last = 0;
    if (this.specialRe) {
      for (const m of text.matchAll(this.specialRe)) {
        const at = m.index;
        if (at > last) {
          this.encodeFragment(text.slice(last, at), afterSpecial, out);
        }
        out.push(this.specialIds.get(m[0])!);
        afterSpecial = true;
        last = at + m[0].length;
      }
    }
    if (last < text.length) this.encodeFragment(text.slice(last), afterSpecial, out);
    return out;
  }

  private encodeFragment(fragment: string, prefix: boolean, out: number[]): void {
    let s = prefix && this.addSpacePrefix ? ' ' + fragment : fragment;
    if (this.space !== ' ') s = s.replaceAll(' ', this.space);

    // One symbol per code point, kept as a linked list of [start, end) spans of s.
    const start: number[] = [];
    for (let i = 0; i < s.length; ) {
      start.push(i);
      i += s.codePointAt(i)! > 0xffff ? 2 : 1;
    }
    const count = start.length;
    const end = new Int32Array(count);
    const prev = new Int32Array(count);
    const next = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      end[i] = i + 1 < count ? start[i + 1] : s.length;
      prev[i] = i - 1;
      next[i] = i + 1 < count ? i + 1 : -1;
    }
    const alive = new Uint8Array(count).fill(1);
    const heap = new BigramHeap();
    const tryPair = (left: number, right: number): void => {
      if (left < 0 || right < 0) return;
      const id = this.textPieces.get(s.slice(start[left], end[right]));
      if (id !== undefined) heap.push({ left, right, score: this.scores[id], size: end[right] - start[left] });
    };
    for (let i = 0; i + 1 < count; i++) tryPair(i, i + 1);

    for (let b = heap.pop(); b !== undefined; b = heap.pop()) {
      const { left, right } = b;
      if (!alive[left] || !alive[right] || next[left] !== right || end[right] - start[left] !== b.size) continue;
      end[left] = end[right];
      alive[right] = 0;
      next[left] = next[right];
      if (next[right] >= 0) prev[next[right]] = left;
      tryPair(prev[left], left);
      tryPair(left, next[left]);
    }

    let lastWasUnk = false;
    for (let i = count > 0 ? 0 : -1; i >= 0; i = next[i]) {
      const piece = s.slice(start[i], end[i]);
      const id = this.textPieces.get(piece);
      const wasUnk = lastWasUnk;
      lastWasUnk = false;
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      const bytes = Buffer.from(piece, 'utf8');
      if (bytes.every((b) => this.byteId[b] >= 0)) {
        for (const b of bytes) out.push(this.byteId[b]);
      } else if (this.unkId !== undefined) {
        // SentencePiece (and HF's fuse_unk) emit one <unk> for a run of unknown characters.
        if (!wasUnk) out.push(this.unkId);
        lastWasUnk = true;
      } else {
        const cp = piece.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        throw new InvalidInputError(`cannot tokenize U+${cp}: not in the vocabulary, and no byte or <unk> token`);
      }
    }
  }

  decode(ids: readonly number[]): string {
    const chunks: Uint8Array[] = [];
    let pendingBytes: number[] = [];
    const flushBytes = (): void => {
      if (pendingBytes.length > 0) chunks.push(Uint8Array.from(pendingBytes));
      pendingBytes = [];
    };
    let first = true;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) continue;
      const type = this.types[id];
      if (type === TokenType.CONTROL || type === TokenType.UNKNOWN) continue;
      const b = this.byteOf[id];
      if (b >= 0) {
        pendingBytes.push(b);
        first = false;
        continue;
      }
      let piece = this.pieces[id];
      if (this.space !== ' ') piece = piece.replaceAll(this.space, ' ');
      // The dummy prefix space of the first piece is not part of the text (SentencePiece, llama2.c).
      if (first && this.addSpacePrefix && piece.startsWith(' ')) piece = piece.slice(1);
      first = false;
      flushBytes();
      chunks.push(Buffer.from(piece, 'utf8'));
    }
    flushBytes();
    // Decoding all bytes at once rejoins multi-byte characters split over byte tokens.
    return Buffer.concat(chunks).toString('utf8');
  }

  tokenToId(token: string): number | undefined {
    return this.anyPiece.get(token) ?? this.aliases.get(token);
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize ? this.pieces[id] : undefined;
  }

  /** Token type of an id (TokenType), for callers that need to know what is special. */
  tokenType(id: number): number | undefined {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize ? this.types[id] : undefined;
  }
}
