/**
 * Code metrics from a tree-sitter parse: cyclomatic complexity and nesting depth per function
 * and per file, function and named-node counts, lines. What counts is in rules.ts. Tree-sitter
 * recovers from syntax errors, so malformed code still gets numbers, with `hasErrors` set and the
 * first problems located.
 */
import type { Node } from 'web-tree-sitter';
import { checkLanguage, codeParser, type CodeLanguage, type CodeParser } from './parser.js';
import { RULES, type LanguageRules } from './rules.js';

export interface FunctionMetrics {
  /** The function's name (JavaScript: the variable or property it is assigned to, if anonymous). */
  readonly name: string;
  /** 1-based first and last line. */
  readonly line: number;
  readonly endLine: number;
  /** 1 + the decision points of the function's own scope (nested functions excluded). */
  readonly complexity: number;
  /** Deepest stack of control structures inside the function (0: none). */
  readonly nesting: number;
  /** Named syntax nodes in the function, itself and nested functions included. */
  readonly nodes: number;
  readonly lines: number;
}

export interface SyntaxProblem {
  /** 1-based line and column. */
  readonly line: number;
  readonly column: number;
  /** 'error': text the grammar could not place; 'missing': a token tree-sitter assumed. */
  readonly kind: 'error' | 'missing';
  /** The missing token, or the start of the text in error. */
  readonly text: string;
}

export interface CodeMetrics {
  readonly language: CodeLanguage;
  /** The parse needed error recovery: the numbers describe tree-sitter's best guess. */
  readonly hasErrors: boolean;
  /** The first problems (at most MAX_PROBLEMS). */
  readonly problems: readonly SyntaxProblem[];
  /** 1 + every decision point in the file (all functions and the top level). */
  readonly complexity: number;
  /** Deepest nesting anywhere (each function counted from 0). */
  readonly nesting: number;
  readonly functions: number;
  /** Named syntax nodes in the whole tree, the root included. */
  readonly nodes: number;
  /** Lines of the source, and those holding something besides whitespace and comments. */
  readonly lines: number;
  readonly codeLines: number;
  readonly perFunction: readonly FunctionMetrics[];
}

const MAX_PROBLEMS = 20;

interface FunctionAcc {
  readonly name: string;
  readonly line: number;
  readonly endLine: number;
  decisions: number;
  nesting: number;
  nodes: number;
}

/** A node to visit, with the function its decisions count for and the nesting around it. */
interface Visit {
  readonly node: Node;
  readonly fn: FunctionAcc | undefined;
  /** Every function containing the node (node counts). */
  readonly owners: readonly FunctionAcc[];
  readonly depth: number;
  readonly muted: boolean;
}

function physicalLines(source: string): number {
  if (source === '') return 0;
  let n = 1;
  for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) n++;
  return source.endsWith('\n') ? n - 1 : n;
}

function problemOf(node: Node): SyntaxProblem {
  const text = node.isMissing ? node.type : node.text.split('\n')[0].slice(0, 40);
  return { line: node.startPosition.row + 1, column: node.startPosition.column + 1, kind: node.isMissing ? 'missing' : 'error', text };
}

function walk(root: Node, rules: LanguageRules) {
  const functions: FunctionAcc[] = [];
  const problems: SyntaxProblem[] = [];
  const codeRows = new Set<number>();
  let decisions = 0;
  let nesting = 0;
  let nodes = 0;
  // Depth-first with an explicit stack: deeply nested code must not overflow the call stack.
  const stack: Visit[] = [{ node: root, fn: undefined, owners: [], depth: 0, muted: false }];
  while (stack.length > 0) {
    const { node, fn, owners, depth, muted } = stack.pop()!;
    if (node.isNamed) {
      nodes++;
      for (const o of owners) o.nodes++;
    }
    if ((node.isError || node.isMissing) && problems.length < MAX_PROBLEMS) problems.push(problemOf(node));
    if (node.childCount === 0 && node.type !== 'comment' && node.endIndex > node.startIndex) {
      for (let r = node.startPosition.row; r <= node.endPosition.row; r++) codeRows.add(r);
    }
    const d = muted ? 0 : rules.decisions(node);
    decisions += d;
    if (fn) fn.decisions += d;
    const childMuted = muted || rules.mutes(node);
    let childDepth = depth;
    if (rules.nests(node)) {
      childDepth = depth + 1;
      nesting = Math.max(nesting, childDepth);
      if (fn) fn.nesting = Math.max(fn.nesting, childDepth);
    }
    let inner: FunctionAcc | undefined;
    if (rules.isFunction(node)) {
      inner = { name: rules.functionName(node), line: node.startPosition.row + 1, endLine: node.endPosition.row + 1, decisions: 0, nesting: 0, nodes: 1 };
      functions.push(inner);
    }
    const detached = rules.isDetached(node);
    const children = node.children;
    // Pushed in reverse so children are visited in source order (problems come out in order).
    for (let i = children.length - 1; i >= 0; i--) {
      const child = children[i];
      if (inner !== undefined && rules.inFunctionScope(node, child)) {
        stack.push({ node: child, fn: inner, owners: [...owners, inner], depth: 0, muted: childMuted });
      } else if (detached) {
        stack.push({ node: child, fn: undefined, owners: inner ? [...owners, inner] : owners, depth: 0, muted: childMuted });
      } else {
        stack.push({ node: child, fn, owners: inner ? [...owners, inner] : owners, depth: childDepth, muted: childMuted });
      }
    }
  }
  return { functions, problems, codeRows, decisions, nesting, nodes };
}

/** Metrics of one source text, with a loaded parser. */
export function measureCode(parser: CodeParser, source: string, language: CodeLanguage): CodeMetrics {
  const lang = checkLanguage(language);
  const tree = parser.parse(source, lang);
  try {
    const root = tree.rootNode;
    const w = walk(root, RULES[lang]);
    return {
      language: lang,
      hasErrors: root.hasError,
      problems: w.problems,
      complexity: 1 + w.decisions,
      nesting: w.nesting,
      functions: w.functions.length,
      nodes: w.nodes,
      lines: physicalLines(source),
      codeLines: w.codeRows.size,
      perFunction: w.functions
        .sort((a, b) => a.line - b.line)
        .map((f) => ({ name: f.name, line: f.line, endLine: f.endLine, complexity: 1 + f.decisions, nesting: f.nesting, nodes: f.nodes, lines: f.endLine - f.line + 1 })),
    };
  } finally {
    tree.delete();
  }
}

/** Metrics of one source text (the grammars load on first use). */
export async function codeMetrics(source: string, language: CodeLanguage): Promise<CodeMetrics> {
  return measureCode(await codeParser(), source, language);
}
