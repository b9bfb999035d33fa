import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test, type TestContext } from 'node:test';
import { Linter } from 'eslint';
import { codePairs, probeRecords } from '../src/code/code-data.js';
import { complexifyPython } from '../src/code/complexify.js';
import { codeDatasetPath, readCodeTasks } from '../src/code/datasets.js';
import { measureCode } from '../src/code/metrics.js';
import { CodeParser, MAX_SOURCE_CHARS, type CodeLanguage } from '../src/code/parser.js';
import { readProbeData } from '../src/probes/probe-data.js';
import { loadVector } from '../src/steering/vector-file.js';
import { sharedPath } from '../src/util/shared-path.js';
import type { CliResult } from './helpers/cli.js';
import { steererSyncIn } from './helpers/cli-in-process.js';
import { tempDir } from './helpers/random-model.js';
import { skipUnlessShared } from './helpers/shared.js';

const MODEL = sharedPath('models', 'tinystories-656k');

interface Expected {
  readonly complexity: number;
  readonly nesting: number;
}

/**
 * Hand-counted cases. Cyclomatic complexity = 1 + decision points, as radon (Python) and ESLint's
 * `complexity` rule (JavaScript) count them (src/code/rules.ts); nesting = deepest stack of
 * control structures in the function. `file` is the whole file: 1 + every decision point.
 */
interface Case {
  readonly name: string;
  readonly language: CodeLanguage;
  readonly source: string;
  readonly file: Expected & { readonly functions: number };
  readonly functions: readonly (Expected & { readonly name: string })[];
}

const py = (name: string, source: string, file: Case['file'], functions: Case['functions']): Case => ({ name, language: 'python', source, file, functions });
const js = (name: string, source: string, file: Case['file'], functions: Case['functions']): Case => ({ name, language: 'javascript', source, file, functions });

const CASES: readonly Case[] = [
  // No decision: 1. No control structure: nesting 0.
  py('straight line', 'def add(a, b):\n    return a + b\n', { complexity: 1, nesting: 0, functions: 1 }, [{ name: 'add', complexity: 1, nesting: 0 }]),
  // if +1, elif +1, else 0 → 3; the elif continues the if: nesting 1.
  py('if/elif/else', 'def sign(x):\n    if x > 0:\n        return 1\n    elif x < 0:\n        return -1\n    else:\n        return 0\n', { complexity: 3, nesting: 1, functions: 1 }, [{ name: 'sign', complexity: 3, nesting: 1 }]),
  // for +1, if +1 → 3; if inside for: nesting 2.
  py('for + if', 'def first_even(xs):\n    for x in xs:\n        if x % 2 == 0:\n            return x\n    return None\n', { complexity: 3, nesting: 2, functions: 1 }, [{ name: 'first_even', complexity: 3, nesting: 2 }]),
  // while +1, its else +1, if +1 → 4; if inside while: nesting 2.
  py('while/else', 'def find(xs, t):\n    i = 0\n    while i < len(xs):\n        if xs[i] == t:\n            break\n        i += 1\n    else:\n        return -1\n    return i\n', { complexity: 4, nesting: 2, functions: 1 }, [{ name: 'find', complexity: 4, nesting: 2 }]),
  // and +1, or +1 → 3; no structure.
  py('boolean operators', 'def in_range(x, lo, hi):\n    return lo <= x and x <= hi or x is None\n', { complexity: 3, nesting: 0, functions: 1 }, [{ name: 'in_range', complexity: 3, nesting: 0 }]),
  // Comprehension: for +1, for +1, if +1 → 4; comprehensions do not nest.
  py('comprehension', 'def pairs(xs, ys):\n    return [(x, y) for x in xs for y in ys if x != y]\n', { complexity: 4, nesting: 0, functions: 1 }, [{ name: 'pairs', complexity: 4, nesting: 0 }]),
  // except +1, except +1, try-else +1, finally 0 → 4; try: nesting 1.
  py('try/except/else/finally', 'def parse(s):\n    try:\n        n = int(s)\n    except ValueError:\n        n = 0\n    except TypeError:\n        n = -1\n    else:\n        n += 1\n    finally:\n        print(s)\n    return n\n', { complexity: 4, nesting: 1, functions: 1 }, [{ name: 'parse', complexity: 4, nesting: 1 }]),
  // The lambda belongs to clamp_all: its conditional expression +1 → 2; a lambda is not a function of its own.
  py('lambda with a conditional expression', 'def clamp_all(xs):\n    f = lambda x: 0 if x < 0 else x\n    return list(map(f, xs))\n', { complexity: 2, nesting: 0, functions: 1 }, [{ name: 'clamp_all', complexity: 2, nesting: 0 }]),
  // outer: for +1 → 2 (inner's if is inner's); inner: if +1 → 2; the file: 1 + 2 = 3.
  py('nested def', 'def outer(xs):\n    def inner(x):\n        if x:\n            return x\n        return 0\n    for x in xs:\n        inner(x)\n', { complexity: 3, nesting: 1, functions: 2 }, [
    { name: 'outer', complexity: 2, nesting: 1 },
    { name: 'inner', complexity: 2, nesting: 1 },
  ]),
  // with 0, for +1, for +1 → 3; with ⊃ for ⊃ for: nesting 3.
  py('with + two loops', "def copy_lines(paths, out):\n    with open(out, 'w') as f:\n        for p in paths:\n            for line in open(p):\n                f.write(line)\n", { complexity: 3, nesting: 3, functions: 1 }, [{ name: 'copy_lines', complexity: 3, nesting: 3 }]),
  // assert +1, and (as radon) the `and` inside it is not counted → 2.
  py('assert', 'def checked(x):\n    assert x > 0 and x < 10, "out of range"\n    return x\n', { complexity: 2, nesting: 0, functions: 1 }, [{ name: 'checked', complexity: 2, nesting: 0 }]),
  // Three cases, less the catch-all `case _` → +2 → 3; match: nesting 1.
  py('match', 'def describe(cmd):\n    match cmd:\n        case "go":\n            return 1\n        case "stop" | "halt":\n            return 2\n        case _:\n            return 0\n', { complexity: 3, nesting: 1, functions: 1 }, [{ name: 'describe', complexity: 3, nesting: 1 }]),
  // Two methods: __init__ 1; pop: if +1 (`not` adds 0) → 2; the file: 1 + 1 = 2.
  py('class with methods', 'class Stack:\n    def __init__(self):\n        self.items = []\n\n    def pop(self):\n        if not self.items:\n            raise IndexError("empty")\n        return self.items.pop()\n', { complexity: 2, nesting: 1, functions: 2 }, [
    { name: '__init__', complexity: 1, nesting: 0 },
    { name: 'pop', complexity: 2, nesting: 1 },
  ]),
  // ?: +1 → 2.
  js('ternary', 'function max(a, b) {\n  return a > b ? a : b;\n}\n', { complexity: 2, nesting: 0, functions: 1 }, [{ name: 'max', complexity: 2, nesting: 0 }]),
  // if +1, else if +1 → 3; the else-if chain stays at depth 1.
  js('else-if chain', "function grade(score) {\n  if (score >= 90) {\n    return 'A';\n  } else if (score >= 80) {\n    return 'B';\n  } else {\n    return 'C';\n  }\n}\n", { complexity: 3, nesting: 1, functions: 1 }, [{ name: 'grade', complexity: 3, nesting: 1 }]),
  // case 0 +1, case 6 +1, default 0 → 3; switch: nesting 1.
  js('switch', "function dayType(d) {\n  switch (d) {\n    case 0:\n    case 6:\n      return 'weekend';\n    default:\n      return 'weekday';\n  }\n}\n", { complexity: 3, nesting: 1, functions: 1 }, [{ name: 'dayType', complexity: 3, nesting: 1 }]),
  // for-of +1, for +1, if +1 → 4; for-of ⊃ for ⊃ if: nesting 3.
  js('nested loops', 'function sumPositive(rows) {\n  let s = 0;\n  for (const row of rows) {\n    for (let i = 0; i < row.length; i++) {\n      if (row[i] > 0) s += row[i];\n    }\n  }\n  return s;\n}\n', { complexity: 4, nesting: 3, functions: 1 }, [{ name: 'sumPositive', complexity: 4, nesting: 3 }]),
  // ??= +1, || +1, && +1 → 4.
  js('logical operators', "function settings(opts) {\n  opts.size ??= 10;\n  return (opts.name || 'none') && opts.enabled;\n}\n", { complexity: 4, nesting: 0, functions: 1 }, [{ name: 'settings', complexity: 4, nesting: 0 }]),
  // Defaults: name = 'you' +1, { loud = false } +1, = {} +1; ?. +1, ?. +1; ?? +1 → 7.
  js('defaults and optional chaining', "function greet(name = 'you', { loud = false } = {}) {\n  return user?.profile?.title ?? name;\n}\n", { complexity: 7, nesting: 0, functions: 1 }, [{ name: 'greet', complexity: 7, nesting: 0 }]),
  // do-while +1, catch +1, while +1 (finally 0) → 4; do ⊃ try: nesting 2.
  js('do/try/catch/while', 'function retry(fn, times) {\n  let n = 0;\n  do {\n    try {\n      return fn();\n    } catch (e) {\n      n++;\n    } finally {\n      log(n);\n    }\n  } while (n < times);\n  while (false) {}\n  return null;\n}\n', { complexity: 4, nesting: 2, functions: 1 }, [{ name: 'retry', complexity: 4, nesting: 2 }]),
  // Two arrows: evens 1; the callback: && +1 → 2; the file: 1 + 1 = 2.
  js('arrow functions', 'const evens = (xs) => xs.filter((x) => x % 2 === 0 && x > 0);\n', { complexity: 2, nesting: 0, functions: 2 }, [
    { name: 'evens', complexity: 1, nesting: 0 },
    { name: '<anonymous>', complexity: 2, nesting: 0 },
  ]),
  // Functions: inc (default +1 → 2) and the getter isZero (1); the field's ?: and the static block's if
  // count for the file only: 1 + 1 + 1 + 1 = 4; the static block's if: nesting 1.
  js('class members', "class Counter {\n  count = start ? start : 0;\n  static { if (debug) log('loaded'); }\n  inc(by = 1) { this.count += by; }\n  get isZero() { return this.count === 0; }\n}\n", { complexity: 4, nesting: 1, functions: 2 }, [
    { name: 'inc', complexity: 2, nesting: 0 },
    { name: 'isZero', complexity: 1, nesting: 0 },
  ]),
  // outer: if +1 → 2; inner: || +1 → 2; the file: 1 + 2 = 3.
  js('nested function', 'function outer(list) {\n  function inner(x) {\n    return x || 0;\n  }\n  if (list) {\n    return list.map(inner);\n  }\n  return [];\n}\n', { complexity: 3, nesting: 1, functions: 2 }, [
    { name: 'outer', complexity: 2, nesting: 1 },
    { name: 'inner', complexity: 2, nesting: 0 },
  ]),
];

let parser: CodeParser;
before(async () => {
  parser = await CodeParser.load();
});

describe('code metrics against hand-counted values', () => {
  test(`${CASES.length} files, ${CASES.reduce((a, c) => a + c.functions.length, 0)} functions`, () => {
    assert.ok(CASES.reduce((a, c) => a + c.functions.length, 0) >= 20);
    for (const c of CASES) {
      const m = measureCode(parser, c.source, c.language);
      assert.equal(m.hasErrors, false, c.name);
      assert.deepEqual({ complexity: m.complexity, nesting: m.nesting, functions: m.functions }, c.file, `${c.name}: file`);
      assert.deepEqual(
        m.perFunction.map((f) => ({ name: f.name, complexity: f.complexity, nesting: f.nesting })),
        c.functions,
        `${c.name}: functions`,
      );
    }
  });

  test("the JavaScript cases agree with ESLint's complexity rule (another implementation)", () => {
    const linter = new Linter({ configType: 'flat' });
    for (const c of CASES.filter((x) => x.language === 'javascript')) {
      const reports = linter.verify(c.source, [{ languageOptions: { ecmaVersion: 'latest', sourceType: 'module', globals: {} }, rules: { complexity: ['error', 0] } }]);
      // Class field initializers and static blocks are scopes to ESLint but not functions here.
      const eslint = reports.filter((r) => !/^Class (field initializer|static block)/.test(r.message)).map((r) => Number(/complexity of (\d+)/.exec(r.message)?.[1]));
      const ours = measureCode(parser, c.source, 'javascript').perFunction.map((f) => f.complexity);
      assert.deepEqual([...ours].sort(), [...eslint].sort(), c.name);
    }
  });

  test('node and line counts (hand-counted)', () => {
    // module, comment, function_definition, identifier add, parameters, a, b, block, return_statement,
    // binary_operator, a, b = 12 (`+`, `def`, `:` are anonymous); the function: all but module and comment, 10.
    const add = measureCode(parser, '# helper\ndef add(a, b):\n\n    return a + b\n', 'python');
    assert.equal(add.nodes, 12);
    assert.equal(add.perFunction[0].nodes, 10);
    // 4 lines: a comment, the def, a blank line, the return; code on 2; the function spans 3.
    assert.deepEqual({ lines: add.lines, codeLines: add.codeLines, fnLines: add.perFunction[0].lines }, { lines: 4, codeLines: 2, fnLines: 3 });
    // program, function_declaration, max, formal_parameters, a, b, statement_block, return_statement,
    // ternary_expression, binary_expression, a, b, a, b = 14; the function: 13.
    const max = measureCode(parser, CASES.find((c) => c.name === 'ternary')!.source, 'javascript');
    assert.deepEqual({ nodes: max.nodes, fnNodes: max.perFunction[0].nodes, lines: max.lines, codeLines: max.codeLines }, { nodes: 14, fnNodes: 13, lines: 3, codeLines: 3 });
  });

  test('malformed code still gets numbers, with hasErrors and located problems', () => {
    const py = measureCode(parser, 'def broken(:\n    return 1\n', 'python');
    assert.equal(py.hasErrors, true);
    assert.deepEqual(py.problems[0], { line: 1, column: 12, kind: 'missing', text: ')' });
    assert.equal(py.functions, 1);
    const jsBad = measureCode(parser, 'function f( { return 1 ', 'javascript');
    assert.equal(jsBad.hasErrors, true);
    assert.ok(jsBad.problems.length > 0 && jsBad.problems.every((p) => p.line === 1), JSON.stringify(jsBad.problems));
    const empty = measureCode(parser, '', 'python');
    assert.deepEqual({ hasErrors: empty.hasErrors, complexity: empty.complexity, functions: empty.functions, lines: empty.lines }, { hasErrors: false, complexity: 1, functions: 0, lines: 0 });
    assert.throws(() => measureCode(parser, 'x', 'rust' as CodeLanguage), /unknown code language "rust"/);
    assert.throws(() => measureCode(parser, 'x'.repeat(MAX_SOURCE_CHARS + 1), 'python'), /at most/);
    // Deep nesting is walked without recursion.
    const deep = measureCode(parser, `x = ${'['.repeat(3000)}${']'.repeat(3000)}\n`, 'python');
    assert.equal(deep.hasErrors, false);
  });
});

describe('code datasets', () => {
  test('a task file in the wrong shape is named with its line and field', (t) => {
    const tmp = tempDir('code-data');
    t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const file = path.join(tmp, 'tasks.jsonl');
    fs.writeFileSync(file, `${JSON.stringify({ task_id: 1, prompt: 'Add.', code: 'def add(a, b):\r\n    return a + b', test: ['assert add(1, 2) == 3'] })}\n{"task_id": 2, "prompt": "x", "test": []}\n`);
    assert.throws(() => readCodeTasks('mbpp', file), /tasks\.jsonl: line 2: "code" is missing/);
    fs.writeFileSync(file, `${JSON.stringify({ task_id: 1, prompt: 'Add.', code: 'def add(a, b):\r\n    return a + b', test: ['assert add(1, 2) == 3'] })}\n`);
    const [task] = readCodeTasks('mbpp', file);
    assert.deepEqual(task, {
      id: 'mbpp/1',
      dataset: 'mbpp',
      prompt: '# Add.\n# assert add(1, 2) == 3\n',
      solution: 'def add(a, b):\n    return a + b',
      code: 'def add(a, b):\n    return a + b',
      solutionStart: 0,
      tests: 'assert add(1, 2) == 3',
    });
  });
});

describe('complexified solutions', () => {
  test('the rewrites, by hand', () => {
    const source = 'def f(xs, t):\n    if xs and t > 0:\n        for x in xs:\n            if x > t:\n                return x\n    return -1;  # none\n';
    const c = complexifyPython(parser, source);
    const expected =
      'def f(xs, t):\n    if xs:\n        if t > 0:\n            for x in xs:\n                if x > t:\n' +
      '                    result = x\n                    if result is None:\n                        return None\n                    return result\n' +
      '    result = -1\n    if result is None:\n        return None\n    return result;  # none\n';
    assert.equal(c.source, expected);
    assert.deepEqual({ guardedReturns: c.guardedReturns, splitConditions: c.splitConditions }, { guardedReturns: 2, splitConditions: 1 });
    // if +1, and +1, for +1, if +1 → 5; after: if, if, for, if, plus two guards → 7; nesting 3 → 5.
    assert.deepEqual([measureCode(parser, source, 'python').complexity, measureCode(parser, c.source, 'python').complexity], [5, 7]);
    assert.deepEqual([measureCode(parser, source, 'python').nesting, measureCode(parser, c.source, 'python').nesting], [3, 5]);
    // A name the code already uses is not reused; a one-line `if x: return y` is left alone.
    const taken = complexifyPython(parser, 'def g(result):\n    if result: return 1\n    return result\n');
    assert.equal(taken.source, 'def g(result):\n    if result: return 1\n    result_ = result\n    if result_ is None:\n        return None\n    return result_\n');
  });

  test('on shared tasks: valid code, the prompt kept, complexity up by exactly the guarded returns', { skip: skipUnlessShared(codeDatasetPath('mbpp'), codeDatasetPath('humaneval')) }, () => {
    const tasks = [...readCodeTasks('mbpp').slice(0, 30), ...readCodeTasks('humaneval').slice(0, 20)];
    const { pairs, dropped } = codePairs(parser, tasks);
    assert.equal(pairs.length + dropped.length, 50);
    assert.ok(pairs.length >= 45, JSON.stringify(dropped));
    for (const p of pairs) {
      assert.equal(p.complexity.negative - p.complexity.positive, p.guardedReturns, p.id);
      assert.ok(p.nesting.negative >= p.nesting.positive, p.id);
      const task = tasks.find((t) => t.id === p.id)!;
      assert.equal(p.prompt, task.prompt);
      assert.equal(p.positive, task.solution);
    }
  });

  const python = spawnSync('python3', ['--version']).status === 0;
  test('the rewrites keep behaviour: both versions give the same outcome on the tasks’ own tests (python3)', { skip: python ? skipUnlessShared(codeDatasetPath('mbpp')) : 'python3 not found' }, () => {
    const tasks = readCodeTasks('mbpp').slice(0, 25);
    const { pairs } = codePairs(parser, tasks);
    const items = pairs.map((p) => {
      const t = tasks.find((x) => x.id === p.id)!;
      return { simple: t.code, complex: p.negative, tests: t.tests };
    });
    const script = [
      'import json, sys',
      'def run(code, tests):',
      '    ns = {}',
      '    try:',
      '        exec(code, ns); exec(tests, ns); return "pass"',
      '    except BaseException as e:',
      '        return type(e).__name__',
      'items = json.load(sys.stdin)',
      'print(json.dumps([[run(i["simple"], i["tests"]), run(i["complex"], i["tests"])] for i in items]))',
    ].join('\n');
    const r = spawnSync('python3', ['-c', script], { input: JSON.stringify(items), encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const outcomes = JSON.parse(r.stdout) as [string, string][];
    assert.equal(outcomes.length, items.length);
    for (const [simple, complex] of outcomes) assert.equal(complex, simple);
    assert.ok(outcomes.filter(([s]) => s === 'pass').length >= 20);
  });
});

function workspace(t: TestContext): { tmp: string; steerer: (...args: string[]) => CliResult } {
  const tmp = tempDir('code-cli');
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  return { tmp, steerer: steererSyncIn(tmp) };
}

describe('steerer code, end to end on the shared datasets', { skip: skipUnlessShared(MODEL, codeDatasetPath('mbpp'), codeDatasetPath('humaneval')) }, () => {
  test('code metrics on files: the table, --functions, --json, syntax errors flagged', (t) => {
    const { tmp, steerer } = workspace(t);
    const source = (name: string): string => CASES.find((c) => c.name === name)!.source;
    fs.writeFileSync(path.join(tmp, 'a.py'), source('for + if'));
    fs.writeFileSync(path.join(tmp, 'b.js'), source('else-if chain'));
    fs.writeFileSync(path.join(tmp, 'bad.py'), 'def broken(:\n    return 1\n');
    const r = steerer('code', 'metrics', 'a.py', 'b.js', 'bad.py', '--functions');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^a\.py +python +3 +2 +1 /m);
    assert.match(r.stdout, /^ +first_even \(line 1\) +complexity +3, nesting 2/m);
    assert.match(r.stdout, /^bad\.py .*SYNTAX ERRORS \(first at line 1\)$/m);
    const j = steerer('code', 'metrics', 'b.js', '--json');
    assert.equal(j.status, 0, j.stderr);
    const files = (JSON.parse(j.stdout) as { files: { file: string; complexity: number; language: string }[] }).files;
    assert.deepEqual(files.map((f) => [f.file, f.language, f.complexity]), [['b.js', 'javascript', 3]]);
    const noLang = steerer('code', 'metrics', 'notes.txt');
    assert.equal(noLang.status, 1);
    assert.match(noLang.stderr, /cannot tell the language.*--language/);
  });

  test('dataset → probe data → `probe train` (ridge on complexity)', (t) => {
    const { tmp, steerer } = workspace(t);
    const m = steerer('code', 'metrics', '--dataset', 'mbpp', '--limit', '40', '--max-chars', '700', '-o', 'cc.jsonl');
    assert.equal(m.status, 0, m.stderr);
    assert.match(m.stdout, /^mbpp: 40 of 40 reference solutions; complexity: mean/m);
    // The file is what `probe train` reads: {text, value}; each value is the solution's file-level complexity.
    const examples = readProbeData(path.join(tmp, 'cc.jsonl'));
    const expected = probeRecords(parser, readCodeTasks('mbpp').slice(0, 40), 'complexity').records;
    assert.deepEqual(examples.map((e) => e.value), expected.map((r) => r.value));
    assert.equal(examples[0].text, readCodeTasks('mbpp')[0].code);
    const p = steerer('probe', 'train', '-m', MODEL, '--data', 'cc.jsonl', '--layers', '1', '--positions', 'mean', '--l2', '10', '-o', 'cc.safetensors', '--no-report', '--json', '-t', '1');
    assert.equal(p.status, 0, p.stderr);
    const out = JSON.parse(p.stdout) as { task: string; examples: number; perLayer: { layer: number; metrics: { r2?: number } }[] };
    assert.equal(out.task, 'regression');
    assert.equal(out.examples, 40);
    assert.equal(out.perLayer[0].layer, 1);
    assert.ok(Number.isFinite(out.perLayer[0].metrics.r2), p.stdout);
  });

  test('pairs → `vector create`: a "simpler code" vector', (t) => {
    const { tmp, steerer } = workspace(t);
    const pairs = steerer('code', 'pairs', '--dataset', 'humaneval', '--limit', '16', '--max-chars', '1500', '-o', 'pairs.jsonl', '--json');
    assert.equal(pairs.status, 0, pairs.stderr);
    const s = JSON.parse(pairs.stdout) as { pairs: number; complexity: { positive: number; negative: number } };
    assert.ok(s.pairs >= 10, pairs.stdout);
    assert.ok(s.complexity.negative > s.complexity.positive);
    const v = steerer('vector', 'create', '-m', MODEL, '--pairs', 'pairs.jsonl', '--positions', 'mean', '--description', 'simpler code', '-o', 'simpler.safetensors', '--json', '-t', '1');
    assert.equal(v.status, 0, v.stderr);
    const vector = loadVector(path.join(tmp, 'simpler.safetensors'));
    assert.deepEqual([...vector.directions.keys()], [0, 1]);
    const used = (JSON.parse(v.stdout) as { pairs: number; skipped: number });
    assert.equal(used.pairs + used.skipped, s.pairs);
    assert.ok(used.pairs >= 8, v.stdout);
    const mbpp = steerer('code', 'pairs', '--dataset', 'mbpp', '--limit', '3', '-o', 'mbpp.jsonl');
    assert.equal(mbpp.status, 0, mbpp.stderr);
    assert.match(mbpp.stdout, /^wrote mbpp\.jsonl: 3 pairs from 3 mbpp tasks$/m);
  });
});
