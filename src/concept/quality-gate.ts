import type { ConceptItem, ConceptSource, DroppedItem, SourceReport } from './concept-data.js';
import { countConceptHits, type Lexicon } from './lexicon.js';

/**
 * The quality gate: an item is kept only when its positive side expresses the concept and its
 * negative side does not, judged by lexicon hits in the text that is read (the completion);
 * an empty read text is dropped too.
 * What it keeps and drops, and how far apart the two sides are, is reported with the data.
 */

/**
 * `positiveSetUp`: the positive side's concept is given by its prompt (a concept-led opening),
 * so its read text need not name the concept again; the gate then only drops items whose
 * negative side names it, and the report says how often the positive continuation did.
 */
export function gateItems(items: readonly ConceptItem[], lex: Lexicon, source: ConceptSource, opts: { positiveSetUp?: boolean } = {}): { kept: ConceptItem[]; dropped: DroppedItem[]; report: SourceReport } {
  const kept: ConceptItem[] = [];
  const dropped: DroppedItem[] = [];
  let noConcept = 0;
  let inNegative = 0;
  let posHits = 0;
  let negHits = 0;
  for (const item of items) {
    const p = countConceptHits(item.positive.completion, lex).hits;
    const n = countConceptHits(item.negative.completion, lex).hits;
    posHits += p;
    negHits += n;
    const text = `${item.positive.prompt} ${item.positive.completion}`.trim();
    if (item.positive.completion.trim() === '' || item.negative.completion.trim() === '') {
      dropped.push({ text, reason: `${source}: a side has nothing to read` });
    } else if (p === 0 && !(opts.positiveSetUp && countConceptHits(item.positive.prompt, lex).hits > 0)) {
      noConcept++;
      dropped.push({ text, reason: `${source}: the positive side names no concept term` });
    } else if (n > 0) {
      inNegative++;
      dropped.push({ text, reason: `${source}: the negative side names a concept term` });
    } else {
      kept.push(item);
    }
  }
  const m = Math.max(1, items.length);
  return {
    kept,
    dropped,
    report: { source, considered: items.length, kept: kept.length, droppedNoConcept: noConcept, droppedConceptInNegative: inNegative, positiveHits: posHits / m, negativeHits: negHits / m },
  };
}
