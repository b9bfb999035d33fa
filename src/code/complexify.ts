/**
 * A more complex version of the same Python solution: mechanical rewrites that keep what the code
 * does and add control flow, so a (simple, complex) pair is one task solved twice. Used to build
 * the contrastive pairs of a "simpler code" vector (datasets.ts).
 *
 *   guarded return   `return E`  →  `result = E` / `if result is None:` / `    return None` / `return result`
 *                    (E is evaluated once and the same object is returned either way: +1 complexity,
 *                    +1 nesting where the return was deepest)
 *   split condition  `if A and B:` (no elif/else)  →  `if A:` / `    if B:` with the body indented once more
 *                    (same short-circuit order and truthiness tests: complexity unchanged, +1 nesting)
 *
 * A rewrite is applied only where it is safe to do by text: the statement starts its line, the
 * rest of the line is at most a `;` and a comment, and a re-indented body holds no multi-line string. So the
 * complexity of the result is exactly the original's plus the number of guarded returns.
 */
import type { Node, Tree } from 'web-tree-sitter';
import type { CodeParser } from './parser.js';

export interface Complexified {
  readonly source: string;
  readonly guardedReturns: number;
  readonly splitConditions: number;
}

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** Passes of the condition split (each splits the outermost candidates; `a and b and c` takes two). */
const MAX_SPLIT_PASSES = 32;

function lineStart(source: string, index: number): number {
  return source.lastIndexOf('\n', index - 1) + 1;
}

/** The indentation of the line holding `index`, if only whitespace precedes `index` on it. */
function leadingIndent(source: string, index: number): string | undefined {
  const before = source.slice(lineStart(source, index), index);
  return /^[ \t]*$/.test(before) ? before : undefined;
}

function restOfLineIsBlank(source: string, index: number): boolean {
  const end = source.indexOf('\n', index);
  return /^[ \t]*;?[ \t]*(#.*)?\r?$/.test(source.slice(index, end < 0 ? undefined : end));
}

function applyEdits(source: string, edits: readonly Edit[]): string {
  let out = source;
  for (const e of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

function descendants(root: Node, type: string, from: number): Node[] {
  return root.descendantsOfType(type).filter((n) => n.startIndex >= from);
}

function withTree<T>(parser: CodeParser, source: string, fn: (tree: Tree) => T): T {
  const tree = parser.parse(source, 'python');
  try {
    return fn(tree);
  } finally {
    tree.delete();
  }
}

function hasMultilineString(node: Node): boolean {
  return node.descendantsOfType(['string', 'concatenated_string']).some((s) => s.endPosition.row > s.startPosition.row);
}

/** The edit splitting `if A and B:`, or undefined where it does not apply. */
function splitEdit(source: string, node: Node): Edit | undefined {
  const cond = node.childForFieldName('condition');
  const body = node.childForFieldName('consequence');
  if (cond?.type !== 'boolean_operator' || cond.childForFieldName('operator')?.type !== 'and' || body === null) return undefined;
  if (node.namedChildren.some((c) => c.type === 'elif_clause' || c.type === 'else_clause')) return undefined;
  const lead = leadingIndent(source, node.startIndex);
  const bodyLead = leadingIndent(source, body.startIndex);
  if (lead === undefined || bodyLead === undefined || body.startPosition.row === node.startPosition.row) return undefined;
  if (!bodyLead.startsWith(lead) || bodyLead.length === lead.length || hasMultilineString(body)) return undefined;
  const unit = bodyLead.slice(lead.length);
  const left = cond.childForFieldName('left');
  const right = cond.childForFieldName('right');
  if (left === null || right === null) return undefined;
  const from = lineStart(source, body.startIndex);
  const lines = source.slice(from, body.endIndex).split('\n');
  const indented = lines.map((l) => (l.trim() === '' ? l : unit + l)).join('\n');
  return {
    start: cond.startIndex,
    end: body.endIndex,
    text: `${left.text}:\n${lead}${unit}if ${right.text}${source.slice(cond.endIndex, from)}${indented}`,
  };
}

/** Splits the outermost `if A and B:` candidates, pass after pass, until none is left. */
function splitConditions(parser: CodeParser, source: string, from: number): { source: string; count: number } {
  let count = 0;
  for (let pass = 0; pass < MAX_SPLIT_PASSES; pass++) {
    const edits = withTree(parser, source, (tree) => {
      const found: Edit[] = [];
      for (const node of descendants(tree.rootNode, 'if_statement', from)) {
        const edit = splitEdit(source, node);
        if (edit !== undefined && !found.some((e) => e.start <= edit.start && edit.end <= e.end)) found.push(edit);
      }
      // Keep the outermost: a candidate inside another is split on the next pass.
      return found.filter((e) => !found.some((o) => o !== e && o.start <= e.start && e.end <= o.end));
    });
    if (edits.length === 0) break;
    source = applyEdits(source, edits);
    count += edits.length;
  }
  return { source, count };
}

/** A variable name the source does not use. */
function freshName(source: string): string {
  let name = 'result';
  while (new RegExp(`\\b${name}\\b`).test(source)) name += '_';
  return name;
}

function insideFunction(node: Node): boolean {
  for (let p = node.parent; p !== null; p = p.parent) {
    if (p.type === 'function_definition') return true;
    if (p.type === 'lambda' || p.type === 'class_definition') return false;
  }
  return false;
}

function guardReturns(parser: CodeParser, source: string, from: number): { source: string; count: number } {
  const name = freshName(source);
  const edits = withTree(parser, source, (tree) =>
    descendants(tree.rootNode, 'return_statement', from).flatMap((ret): Edit[] => {
      const value = ret.firstNamedChild;
      const lead = leadingIndent(source, ret.startIndex);
      if (value === null || lead === undefined || !insideFunction(ret) || !restOfLineIsBlank(source, ret.endIndex)) return [];
      const unit = lead.includes('\t') ? '\t' : '    ';
      return [
        { start: ret.startIndex, end: value.startIndex, text: `${name} = ` },
        { start: ret.endIndex, end: ret.endIndex, text: `\n${lead}if ${name} is None:\n${lead}${unit}return None\n${lead}return ${name}` },
      ];
    }),
  );
  return { source: applyEdits(source, edits), count: edits.length / 2 };
}

/**
 * The rewrites above, applied to the code from character `from` on (HumanEval: the solution after
 * the prompt, which stays as it is).
 */
export function complexifyPython(parser: CodeParser, source: string, from = 0): Complexified {
  const split = splitConditions(parser, source, from);
  const guarded = guardReturns(parser, split.source, from);
  return { source: guarded.source, guardedReturns: guarded.count, splitConditions: split.count };
}
