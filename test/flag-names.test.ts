import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Command, Option } from 'commander';
import { buildProgram } from '../src/cli/program.js';
import { AliasOption, LLAMA_CPP_ALIASES } from '../src/cli/flag-aliases.js';

/** Every command of the CLI with its path ("vector create"), from a fresh program. */
function commands(program: Command = buildProgram()): { path: string; cmd: Command }[] {
  const out: { path: string; cmd: Command }[] = [];
  const walk = (cmd: Command, prefix: string): void => {
    for (const sub of cmd.commands) {
      const path = `${prefix} ${sub.name()}`.trim();
      out.push({ path, cmd: sub });
      walk(sub, path);
    }
  };
  walk(program, '');
  return out;
}

function find(path: string): Command {
  const hit = commands().find((c) => c.path === path);
  assert.ok(hit, `no command "${path}"`);
  return hit.cmd;
}

/** The value an option ends up with after parsing `argv` on a fresh copy of the command (no action runs). */
function parsedValue(path: string, argv: string[], attribute: string): unknown {
  const cmd = find(path);
  cmd.parseOptions(argv);
  return cmd.getOptionValue(attribute);
}

const visible = (cmd: Command): Option[] => cmd.options.filter((o) => !o.hidden);

/** Old spellings still accepted after a rename: command, old, new, a value both take. */
const RENAMED: readonly [string, string, string, string][] = [
  ['activations', '--layer', '--layers', '0-1'],
  ['vector create', '--read', '--positions', 'mean'],
  ['perplexity', '--window', '--context', '128'],
  ['sae collect', '--max-tokens', '--max-rows', '500'],
  ['sae filter', '--top-k', '--top', '8'],
  ['serve', '--judge-model', '--judge-name', 'qwen'],
];

describe('flag names', () => {
  const all = commands();

  test('the walk sees every command', () => {
    const paths = all.map((c) => c.path);
    for (const p of ['generate', 'perplexity', 'activations', 'inspect', 'vector create', 'vector compare', 'eval', 'sae collect', 'sae filter', 'probe train', 'serve']) assert.ok(paths.includes(p), p);
  });

  test('a flag that takes a list of layers is --layers; --layer takes one layer', () => {
    for (const { path, cmd } of all) {
      for (const o of visible(cmd)) {
        const listy = /<layers>/.test(o.flags) || /comma list/.test(o.description);
        if (listy) assert.equal(o.long, '--layers', `${path}: ${o.flags} takes a list of layers`);
        if (o.long === '--layer') assert.ok(!listy, `${path}: ${o.flags} must take one layer`);
      }
    }
  });

  test('no visible option uses a retired or llama.cpp-only spelling', () => {
    const retired = ['--read', '--window', '--temp', '--n-predict', '--ctx-size', '--repeat-penalty'];
    for (const { path, cmd } of all) {
      for (const o of visible(cmd)) assert.ok(!retired.includes(o.long ?? ''), `${path}: ${o.flags} should be hidden as an alias`);
    }
    // --max-tokens means new tokens per completion; --top-k is top-k sampling, so sae commands count features with --top.
    for (const { path, cmd } of all) {
      const maxTokens = visible(cmd).find((o) => o.long === '--max-tokens');
      if (maxTokens) assert.match(maxTokens.description, /tokens (per|at most)|new tokens/, `${path}: ${maxTokens.flags}: ${maxTokens.description}`);
      assert.ok(!path.startsWith('sae') || !visible(cmd).some((o) => o.long === '--top-k'), `${path} counts features with --top`);
      const judgeModel = visible(cmd).find((o) => o.long === '--judge-model');
      if (judgeModel) assert.match(judgeModel.flags, /<path>/, `${path}: --judge-model is a local model path`);
    }
  });

  test('short flags mean one thing everywhere (llama.cpp: -t threads, -n tokens, -c context, -f file)', () => {
    const meaning: Record<string, readonly string[]> = {
      '-t': ['--threads'],
      '-n': ['--max-tokens'],
      '-c': ['--context'],
      '-m': ['--model'],
      '-p': ['--prompt'],
      '-o': ['--out'],
      '-f': ['--file', '--prompt-file'],
      '-l': ['--layer', '--layers'],
      '-s': ['--seed'],
    };
    for (const { path, cmd } of all) {
      for (const o of cmd.options) {
        if (!o.short) continue;
        const target = o instanceof AliasOption ? o.target : o;
        assert.ok(meaning[o.short], `${path}: unexpected short flag ${o.short} (${o.flags})`);
        assert.ok(meaning[o.short].includes(target.long ?? ''), `${path}: ${o.short} is ${target.long}, expected ${meaning[o.short].join(' or ')}`);
      }
    }
  });

  test('every model command takes -t/--threads, and -t is never the temperature', () => {
    for (const { path, cmd } of all) {
      const t = cmd.options.find((o) => o.short === '-t');
      if (t) assert.equal(t.attributeName(), 'threads', path);
      if (cmd.options.some((o) => o.long === '--model' && o.mandatory)) assert.ok(t, `${path} has --model but no -t`);
    }
    assert.equal(parsedValue('generate', ['-t', '3'], 'threads'), '3');
    assert.equal(parsedValue('generate', ['-t', '3'], 'temperature'), '0.8');
  });

  test('hidden options are aliases of a visible option of the same command, and names are unique', () => {
    for (const { path, cmd } of all) {
      const names = cmd.options.flatMap((o) => [o.short, o.long].filter((n): n is string => n !== undefined));
      assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), [], `${path}: a flag is spelled twice`);
      const attrs = visible(cmd).filter((o) => !o.negate).map((o) => o.attributeName());
      assert.deepEqual(attrs.filter((a, i) => attrs.indexOf(a) !== i), [], `${path}: two visible options write one value`);
      for (const o of cmd.options.filter((x) => x.hidden)) {
        assert.ok(o instanceof AliasOption, `${path}: hidden ${o.flags} is not an alias`);
        assert.ok(cmd.options.includes(o.target) && !o.target.hidden, `${path}: ${o.flags} stands for an option the command lacks`);
        assert.deepEqual(o.argChoices, o.target.argChoices, `${path}: ${o.flags} accepts other values than ${o.target.long}`);
      }
    }
  });

  test("llama.cpp's spellings resolve to the same option wherever the option exists", () => {
    let checked = 0;
    for (const { path, cmd } of all) {
      for (const rule of LLAMA_CPP_ALIASES) {
        const target = visible(cmd).find((o) => o.long === rule.option);
        if (!target) continue;
        const attr = target.attributeName();
        const value = target.argChoices?.[0] ?? '7';
        const spellings = [rule.long, rule.short].filter((s): s is string => s !== undefined);
        for (const s of spellings) {
          assert.ok(cmd.options.some((o) => o.long === s || o.short === s), `${path}: ${rule.option} lacks ${s}`);
          assert.equal(parsedValue(path, [s, value], attr), value, `${path}: ${s} ${value} → ${attr}`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 20, `only ${checked} alias checks ran`);
  });

  test('renamed flags keep their old spelling, hidden, for the same value', () => {
    for (const [path, old, now, value] of RENAMED) {
      const cmd = find(path);
      const renamed = cmd.options.find((o) => o.long === now)!;
      assert.ok(renamed && !renamed.hidden, `${path}: ${now} is visible`);
      const alias = cmd.options.find((o) => o.long === old);
      assert.ok(alias?.hidden, `${path}: ${old} is a hidden alias`);
      const attr = renamed.attributeName();
      assert.equal(parsedValue(path, [old, value], attr), value, `${path} ${old}`);
      assert.equal(parsedValue(path, [now, value], attr), value, `${path} ${now}`);
      assert.ok(!find(path).helpInformation().includes(`${old} `), `${path} --help does not show ${old}`);
    }
  });

  test('an alias keeps the choices of its option: a bad value names the flag typed', () => {
    const cmd = find('vector create');
    cmd.exitOverride().configureOutput({ writeErr: () => {} });
    assert.throws(() => cmd.parseOptions(['--read', 'bogus']), /'--read <mode>' argument 'bogus' is invalid\. Allowed choices are last, mean, answer, all/);
  });
});
