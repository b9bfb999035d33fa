/**
 * Hand-written concept word lists (eval/concepts/*.json) and a whole-word counter for them.
 * The lists are evaluation-only: nothing in src/ reads them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/util/shared-path.js';

export interface ConceptList {
  readonly concept: string;
  /** feeling, animal, object, nature, activity, food, place, creature. */
  readonly kind: string;
  /** The hand-written prompting baseline's opening, naming the concept. */
  readonly prompt: string;
  readonly words: readonly string[];
}

export const CONCEPTS_DIR = path.join(packageRoot(), 'eval', 'concepts');

export function loadConceptList(concept: string, dir = CONCEPTS_DIR): ConceptList {
  const file = path.join(dir, `${concept}.json`);
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ConceptList>;
  if (raw.concept !== concept || typeof raw.prompt !== 'string' || !Array.isArray(raw.words) || raw.words.length === 0) {
    throw new Error(`${file}: expected { concept: "${concept}", kind, prompt, words: [...] }`);
  }
  return { concept, kind: raw.kind ?? '', prompt: raw.prompt, words: raw.words };
}

export function allConcepts(dir = CONCEPTS_DIR): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * One regex for a list: case-insensitive, whole words (no letter or digit on either side, so
 * "cat" matches "cat's" and "cat," but not "category"), phrases with any run of whitespace
 * between their words, ' and ’ interchangeable, '-' matching '-' or a space. Alternatives are
 * tried longest first and a global scan never overlaps, so "teddy bear" counts once, not as
 * "teddy" + "bear".
 */
export function conceptRegex(words: readonly string[]): RegExp {
  const alts = [...new Set(words.map((w) => w.trim().toLowerCase()).filter((w) => w !== ''))]
    .sort((a, b) => b.length - a.length)
    .map((w) =>
      w
        .split(/\s+/)
        .map((part) => escape(part).replace(/['’]/g, "['’]").replace(/-/g, '[-\\s]'))
        .join('\\s+'),
    );
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${alts.join('|')})(?![\\p{L}\\p{N}])`, 'giu');
}

/** Occurrences of list words in `text`, each span counted once. */
export function countConceptWords(text: string, re: RegExp): { count: number; hits: string[] } {
  const hits = [...text.matchAll(re)].map((m) => m[0].toLowerCase());
  return { count: hits.length, hits };
}
