import { z } from 'zod/v4';
import { InvalidInputError, ModelFileError } from '../io/errors.js';
import { parseJson, readText } from '../io/json-records.js';
import { writeFileAtomic } from '../io/files.js';
import type { ConceptKindName, ConceptPos } from './concept-kind.js';
import type { WordPos } from './word-forms.js';

/**
 * A concept's words: what counts as the concept being present in a text (terms, with their
 * inflected forms) and matched neutral words for minimal pairs ("It was snowing outside." /
 * "It was quiet outside."). Built offline from WordNet, or from words the user gives
 * (lexicon-build.ts; neutral words: neutral-words.ts). This module holds what a lexicon is, its
 * file format, and the counting of its words in text, which everything downstream uses.
 */

export type TermRelation = 'head' | 'synonym' | 'hyponym' | 'derived' | 'similar' | 'related' | 'user';

export interface LexiconTerm {
  /** Lower case, spaces between the words of a phrase. */
  readonly word: string;
  /** The word and its inflections (plural, verb tenses, comparatives), lower case. */
  readonly forms: readonly string[];
  readonly relation: TermRelation;
  readonly weight: number;
}

export interface NeutralTerm {
  readonly word: string;
  readonly forms: readonly string[];
  readonly pos: WordPos;
}

export interface Lexicon {
  readonly concept: string;
  readonly kind: ConceptKindName;
  readonly topicKind?: ConceptKindName;
  readonly pos: ConceptPos;
  readonly head: readonly string[];
  readonly terms: readonly LexiconTerm[];
  readonly neutral: readonly NeutralTerm[];
  readonly source: 'wordnet' | 'user' | 'mixed';
  /** False when the concept is not in WordNet and no words were given: see assertLexiconResolved. */
  readonly resolved: boolean;
  /** How the kind was decided. */
  readonly why: string;
}

const LEXICON_FORMAT = 'steerer.lexicon/v1';

/** Throws the error a user should see when a lexicon has no words to go on. */
export function assertLexiconResolved(lex: Lexicon): void {
  if (!lex.resolved) throw new InvalidInputError(`concept "${lex.concept}" is not in WordNet; give its words with --words`);
}

interface ConceptHits {
  /** Occurrences of any term form; overlapping matches count once, longest first. */
  readonly hits: number;
  /** Words in the text. */
  readonly words: number;
  /** Hits per term (by the term's word, not the form matched). */
  readonly matched: Record<string, number>;
}

interface TrieNode {
  term?: string;
  next: Map<string, TrieNode>;
}

/** Letters and digits; apostrophes and hyphens split ("cat's" -> cat, s), so terms match inside them. */
const TOKEN = /[\p{L}\p{N}]+/gu;
const WORD = /[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu;
const tokens = (text: string): string[] => (text.toLowerCase().match(TOKEN) ?? []);

const tries = new WeakMap<Lexicon, TrieNode>();

function trieOf(lex: Lexicon): TrieNode {
  let root = tries.get(lex);
  if (root) return root;
  root = { next: new Map() };
  for (const t of lex.terms) {
    for (const form of [t.word, ...t.forms]) {
      let node: TrieNode = root;
      for (const tok of tokens(form)) {
        let child = node.next.get(tok);
        if (!child) node.next.set(tok, (child = { next: new Map() }));
        node = child;
      }
      // A form two terms share counts for the first (head before synonyms before hyponyms).
      if (node !== root) node.term ??= t.word;
    }
  }
  tries.set(lex, root);
  return root;
}

/**
 * Counts concept words in a text: each term in any of its forms, case-insensitive, whole words
 * only ("Catalog" is not "cat"), phrases included, each word of the text counted at most once.
 */
export function countConceptHits(text: string, lexicon: Lexicon): ConceptHits {
  const root = trieOf(lexicon);
  const toks = tokens(text);
  const matched: Record<string, number> = {};
  let hits = 0;
  for (let i = 0; i < toks.length; ) {
    let node: TrieNode | undefined = root;
    let best: { term: string; end: number } | undefined;
    for (let j = i; j < toks.length; j++) {
      node = node.next.get(toks[j]);
      if (!node) break;
      if (node.term) best = { term: node.term, end: j + 1 };
    }
    if (best) {
      hits++;
      matched[best.term] = (matched[best.term] ?? 0) + 1;
      i = best.end;
    } else i++;
  }
  return { hits, words: (text.match(WORD) ?? []).length, matched };
}

const KIND = z.enum(['feeling', 'creature', 'thing', 'weather', 'place', 'activity', 'topic', 'style', 'behaviour', 'quality', 'unknown']);
const WORD_POS = z.enum(['noun', 'verb', 'adj', 'adv']);
const LexiconSchema = z.object({
  format: z.literal(LEXICON_FORMAT),
  concept: z.string().min(1),
  kind: KIND,
  topicKind: KIND.optional(),
  pos: z.enum(['noun', 'verb', 'adj', 'adv', 'phrase']),
  head: z.array(z.string().min(1)),
  terms: z.array(z.object({
    word: z.string().min(1),
    forms: z.array(z.string().min(1)),
    relation: z.enum(['head', 'synonym', 'hyponym', 'derived', 'similar', 'related', 'user']),
    weight: z.number().min(0).max(1),
  })),
  neutral: z.array(z.object({ word: z.string().min(1), forms: z.array(z.string().min(1)), pos: WORD_POS })),
  source: z.enum(['wordnet', 'user', 'mixed']),
  resolved: z.boolean(),
  why: z.string(),
});

/** A lexicon file's text (NAME.lexicon.json), as writeLexicon writes it. */
export function lexiconFileText(lex: Lexicon): string {
  return JSON.stringify({ format: LEXICON_FORMAT, ...lex }, null, 2) + '\n';
}

export function writeLexicon(file: string, lex: Lexicon): void {
  const body = lexiconFileText(lex);
  writeFileAtomic(file, (write) => write(new TextEncoder().encode(body)));
}

/** A lexicon stored inside something else (a vector's metadata): validated the same way as a file. */
export function parseLexicon(value: unknown, source: string): Lexicon {
  const parsed = LexiconSchema.safeParse({ format: LEXICON_FORMAT, ...(typeof value === 'object' && value !== null ? value : {}) });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(`${source}: not a lexicon: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const { format: _format, ...lex } = parsed.data;
  return lex;
}

export function readLexicon(file: string): Lexicon {
  const parsed = LexiconSchema.safeParse(parseJson(file, readText(file)));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    throw new ModelFileError(file, `not a ${LEXICON_FORMAT} file: ${where}${issue.message}`);
  }
  const { format: _format, ...lex } = parsed.data;
  return lex;
}
