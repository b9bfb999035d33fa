/**
 * What counts, per language, for the code metrics (metrics.ts walks the tree with these rules).
 *
 * Cyclomatic complexity (McCabe) = 1 + decision points.
 *
 * Python follows radon's ComplexityVisitor (radon 5.1/6, `radon cc`):
 *   +1  if, elif, conditional expression (`a if c else b`)
 *   +1  for / while (async for too), and +1 more when the loop has an `else`
 *   +1  each `except` clause (`except*` too), and +1 for a `try ... else`; `finally` and `with` add 0
 *   +1  each boolean operator (`a and b or c`: +2); `not` adds 0
 *   +1  each `for` and each `if` of a comprehension or generator expression
 *   +1  each `case` of a `match`, less one when a case is a catch-all (`case _:` or a bare capture `case x:`)
 *   +1  an `assert`, and (as radon) nothing inside it counts
 *   A function's complexity covers its body; a nested `def` is a function of its own, and a
 *   lambda belongs to the function it is written in. Class bodies count for the file only.
 *
 * JavaScript follows ESLint's `complexity` rule (classic variant, ESLint 9):
 *   +1  if (each `else if` too), `?:`, for, for-in, for-of, while, do-while, catch
 *   +1  each `case` with a test (`default` adds 0)
 *   +1  each `&&`, `||`, `??` and each `&&=`, `||=`, `??=`
 *   +1  each default value (`function f(a = 1)`, `const {a = 1} = o`, `[a = 1] = xs`)
 *   +1  each optional chain `?.` (member, call or index)
 *   Every function (declaration, expression, arrow, method, getter, generator) is its own scope,
 *   parameters included; class field initializers and static blocks count for the file only.
 *
 * Nesting depth: the deepest stack of control structures inside one function (a function starts
 * at 0; so does the top level). Python, as pylint's too-many-nested-blocks: if, for, while, try,
 * with, and match (an `elif` does not nest). JavaScript, as ESLint's max-depth: if, switch, try,
 * do, while, with, for, for-in/of (an `else if` does not nest).
 */
import type { Node } from 'web-tree-sitter';
import type { CodeLanguage } from './parser.js';

export interface LanguageRules {
  /** Decision points this node adds (its children are visited on their own). */
  decisions(node: Node): number;
  /** Whether nothing under this node adds decisions (Python's assert, as radon). */
  mutes(node: Node): boolean;
  /** Whether this node is a control structure that nests. */
  nests(node: Node): boolean;
  isFunction(node: Node): boolean;
  /** Whether `child` of function `fn` is inside the function's own scope (else the enclosing one's). */
  inFunctionScope(fn: Node, child: Node): boolean;
  /** Nodes whose contents count for the file only (no function, nesting from 0). */
  isDetached(node: Node): boolean;
  functionName(node: Node): string;
}

const COMPREHENSIONS = new Set(['list_comprehension', 'set_comprehension', 'dictionary_comprehension', 'generator_expression']);
const PY_NESTS = new Set(['if_statement', 'for_statement', 'while_statement', 'try_statement', 'with_statement', 'match_statement']);

/** `case _:` (an empty case_pattern: `_` is anonymous) or a bare capture `case x:`. */
function isCatchAll(clause: Node): boolean {
  const patterns = clause.namedChildren.filter((c) => c.type === 'case_pattern');
  if (patterns.length !== 1) return false;
  const inner = patterns[0].namedChildren;
  if (inner.length === 0) return true;
  return inner.length === 1 && inner[0].type === 'dotted_name' && inner[0].namedChildCount === 1;
}

function pythonDecisions(node: Node): number {
  switch (node.type) {
    case 'if_statement':
    case 'elif_clause':
    case 'conditional_expression':
    case 'boolean_operator':
    case 'for_in_clause':
    case 'assert_statement':
      return 1;
    case 'if_clause':
      // Also a match case's guard, which radon does not count.
      return COMPREHENSIONS.has(node.parent?.type ?? '') ? 1 : 0;
    case 'for_statement':
    case 'while_statement':
      return node.childForFieldName('alternative') !== null ? 2 : 1;
    case 'try_statement':
      return node.namedChildren.filter((c) => c.type === 'except_clause' || c.type === 'except_group_clause' || c.type === 'else_clause').length;
    case 'match_statement': {
      const cases = (node.childForFieldName('body')?.namedChildren ?? []).filter((c) => c.type === 'case_clause');
      return Math.max(0, cases.length - (cases.some(isCatchAll) ? 1 : 0));
    }
    default:
      return 0;
  }
}

const python: LanguageRules = {
  decisions: pythonDecisions,
  mutes: (node) => node.type === 'assert_statement',
  nests: (node) => PY_NESTS.has(node.type),
  isFunction: (node) => node.type === 'function_definition',
  inFunctionScope: (fn, child) => fn.childForFieldName('body')?.id === child.id,
  isDetached: (node) => node.type === 'class_definition',
  functionName: (node) => node.childForFieldName('name')?.text ?? '<anonymous>',
};

const JS_FUNCTIONS = new Set(['function_declaration', 'generator_function_declaration', 'function_expression', 'function', 'generator_function', 'arrow_function', 'method_definition']);
const JS_DECISIONS = new Set([
  'if_statement',
  'for_statement',
  'for_in_statement',
  'while_statement',
  'do_statement',
  'catch_clause',
  'ternary_expression',
  'switch_case',
  'assignment_pattern',
  'object_assignment_pattern',
  'optional_chain',
]);
const SHORT_CIRCUIT = new Set(['&&', '||', '??']);
const LOGICAL_ASSIGNMENT = new Set(['&&=', '||=', '??=']);
const JS_NESTS = new Set(['switch_statement', 'try_statement', 'do_statement', 'while_statement', 'with_statement', 'for_statement', 'for_in_statement']);

function javascriptDecisions(node: Node): number {
  if (JS_DECISIONS.has(node.type)) return 1;
  if (node.type === 'binary_expression') return SHORT_CIRCUIT.has(node.childForFieldName('operator')?.type ?? '') ? 1 : 0;
  if (node.type === 'augmented_assignment_expression') return LOGICAL_ASSIGNMENT.has(node.childForFieldName('operator')?.type ?? '') ? 1 : 0;
  return 0;
}

/** A function's name: its own, else the variable, property or field it is assigned to. */
function javascriptName(node: Node): string {
  const own = node.childForFieldName('name');
  if (own !== null) return own.text;
  const parent = node.parent;
  if (parent === null) return '<anonymous>';
  const named = parent.type === 'variable_declarator' ? parent.childForFieldName('name') : parent.type === 'pair' ? parent.childForFieldName('key') : parent.type === 'assignment_expression' ? parent.childForFieldName('left') : parent.type === 'field_definition' ? parent.childForFieldName('property') : null;
  return named?.text ?? '<anonymous>';
}

const javascript: LanguageRules = {
  decisions: javascriptDecisions,
  mutes: () => false,
  // `else if` continues its chain at the same depth.
  nests: (node) => JS_NESTS.has(node.type) || (node.type === 'if_statement' && !(node.parent?.type === 'else_clause' && node.parent.parent?.type === 'if_statement')),
  // Named only: `function` is also the keyword's (anonymous) token.
  isFunction: (node) => node.isNamed && JS_FUNCTIONS.has(node.type),
  inFunctionScope: () => true,
  isDetached: (node) => node.type === 'class_static_block' || node.type === 'field_definition',
  functionName: javascriptName,
};

export const RULES: Record<CodeLanguage, LanguageRules> = { python, javascript };
