/**
 * The README runs as written: every `sh`/`bash` and `ts` block, top to bottom, each in a fresh
 * shell (so no variable carries over from an earlier block), in a sandbox laid out like a clone
 * (the repository's examples/, build and node_modules, with ../shared beside it). Files written
 * by an earlier block are there for later ones, as they would be for a reader. `json` blocks
 * must parse, and those that are steering specs must validate.
 *
 * A block preceded by `<!-- readme-test: skip (reason) -->` is not run (setup commands CI runs
 * itself, models that are not shipped); the reason is required, and the README shows it.
 * `npx steerer` runs the CLI under test; `npx steerer serve` starts in the background, waits
 * until the server answers, and is stopped at the end.
 *
 * What a block says it does is checked by what it leaves: every file named after -o/--out/--html/
 * --svg exists and is not empty, no reply ends in the model's end marker, and no command fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { parseSteeringSpec } from '../src/steering/spec.js';
import { packageRoot, sharedDir } from '../src/util/shared-path.js';
import { cliArgs } from './helpers/cli.js';
import { startCliServer } from './helpers/cli-in-process.js';
import { skipUnlessShared } from './helpers/shared.js';

interface Block {
  readonly lang: string;
  readonly line: number;
  readonly code: string;
  readonly skip?: string;
}

function readmeBlocks(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    const marker = /^<!-- readme-test: skip \((.+)\) -->$/.exec(lines[start - 1] ?? '');
    blocks.push({ lang: open[1], line: start + 1, code: body.join('\n'), ...(marker ? { skip: marker[1] } : {}) });
  }
  return blocks;
}

/** The folder of the compiled sources when this test runs compiled (npm test), else undefined. */
function compiledSources(): string | undefined {
  return import.meta.url.endsWith('.js') ? fileURLToPath(new URL('../src', import.meta.url)) : undefined;
}

const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Bash run before each block: `npx steerer` is the CLI under test, through `run` (the CLI server
 * of ./helpers/cli-in-process.ts: no process start per command); `serve` goes to the background
 * as its own process.
 */
function prelude(sandbox: string, run: readonly string[]): string {
  const cli = [process.execPath, ...cliArgs()].map(shQuote).join(' ');
  return `
npx() {
  if [ "$1" != steerer ]; then command npx "$@"; return; fi
  shift
  if [ "$1" != serve ]; then ${run.map(shQuote).join(' ')} "$@"; return; fi
  local port=8080 prev=
  for a in "$@"; do [ "$prev" = --port ] && port=$a; prev=$a; done
  ${cli} "$@" >>${shQuote(path.join(sandbox, 'serve.log'))} 2>&1 &
  echo $! >>${shQuote(path.join(sandbox, 'serve.pids'))}
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "http://127.0.0.1:$port/health" && return 0
    sleep 0.2
  done
  echo "readme-test: the server on port $port did not answer" >&2; return 1
}
`;
}

/** Files a command says it writes. */
function outputsOf(code: string): string[] {
  // Comments are prose ("--html writes the table"), not commands.
  const joined = code
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, ''))
    .join('\n')
    .replace(/\\\n/g, ' ');
  const outs: string[] = [];
  for (const m of joined.matchAll(/(?:^|\s)(?:-o|--out|--html|--svg)\s+([^\s;|&#]+)/g)) outs.push(m[1].replace(/^["']|["']$/g, ''));
  // `curl -o /dev/null` throws a reply away: nothing to check.
  return outs.filter((f) => f !== '/dev/null');
}

/** Whether `file` was written (not empty), or files named from it as a stem (`-o cat-eval` → cat-eval.html, cat-eval.json). */
function wrote(file: string): boolean {
  if (fs.existsSync(file)) return fs.statSync(file).isDirectory() || fs.statSync(file).size > 0;
  const dir = path.dirname(file);
  return fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.startsWith(`${path.basename(file)}.`) && fs.statSync(path.join(dir, f)).size > 0);
}

const readme = fs.readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
const blocks = readmeBlocks(readme);
const skipShared = skipUnlessShared(path.join(sharedDir(), 'models', 'tinystories-656k'));

describe('README', () => {
  test('every skipped block says why, and most blocks run', () => {
    const runnable = blocks.filter((b) => b.lang === 'sh' || b.lang === 'bash' || b.lang === 'ts');
    assert.ok(runnable.length >= 10, `only ${runnable.length} runnable blocks found`);
    const skipped = runnable.filter((b) => b.skip);
    for (const b of skipped) assert.ok(b.skip!.trim().length > 10, `README line ${b.line}: a skipped block needs a reason`);
    // Few blocks may need what ../shared does not have (an instruct model, a tool-calling one, …).
    assert.ok(skipped.length <= Math.ceil(runnable.length * 0.15), `${skipped.length} of ${runnable.length} blocks are skipped: ${skipped.map((b) => `line ${b.line} (${b.skip})`).join('; ')}`);
  });

  test('json blocks parse, and steering specs validate', () => {
    for (const b of blocks.filter((x) => x.lang === 'json')) {
      let value: unknown;
      assert.doesNotThrow(() => (value = JSON.parse(b.code)), `README line ${b.line}: not JSON`);
      if (value !== null && typeof value === 'object' && 'interventions' in value) parseSteeringSpec(value, `README line ${b.line}`);
    }
  });

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-readme-'));
  const sandbox = path.join(root, 'steerer');
  after(() => {
    const pids = path.join(sandbox, 'serve.pids');
    if (fs.existsSync(pids)) {
      for (const pid of fs.readFileSync(pids, 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid));
        } catch {
          // already gone
        }
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('every command block runs as written, in order, each in a fresh shell', { skip: skipShared, timeout: 15 * 60_000 }, async (t) => {
    fs.mkdirSync(sandbox);
    fs.symlinkSync(sharedDir(), path.join(root, 'shared'));
    for (const entry of ['examples', 'node_modules', 'package.json']) fs.symlinkSync(path.join(packageRoot(), entry), path.join(sandbox, entry));
    // `import … from 'steerer'` resolves to dist/index.js: under `npm test` the sources compiled
    // beside this test (no separate build), run alone the package's own build.
    fs.symlinkSync(compiledSources() ?? path.join(packageRoot(), 'dist'), path.join(sandbox, 'dist'));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: os.tmpdir(),
      STEERER_CACHE_DIR: process.env.STEERER_CACHE_DIR ?? path.join(root, 'cache'),
      // Sampled commands without --seed take this one, so a failure can be rerun as it was.
      STEERER_SEED: '1',
    };
    const cliServer = await startCliServer(root);
    t.after(() => cliServer.close());
    const pre = prelude(sandbox, cliServer.command);
    let ran = 0;
    for (const b of blocks) {
      if (b.skip || !['sh', 'bash', 'ts'].includes(b.lang)) continue;
      const script =
        b.lang === 'ts'
          ? (fs.writeFileSync(path.join(sandbox, `readme-${b.line}.ts`), `${b.code}\n`), `node --import tsx readme-${b.line}.ts`)
          : b.code;
      const started = performance.now();
      const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', `${pre}\n${script}`], { cwd: sandbox, env, encoding: 'utf8', maxBuffer: 64 << 20 });
      const tail = (s: string): string => s.split('\n').slice(-15).join('\n');
      assert.equal(r.status, 0, `README block at line ${b.line} failed (exit ${r.status}):\n${tail(r.stderr)}\n${tail(r.stdout)}`);
      // A model's end marker never reaches a reply (token tables may still show a BOS token).
      const marker = /<\|end|<\/s>/.exec(r.stdout);
      assert.ok(!marker, `README block at line ${b.line} printed an end marker: …${r.stdout.slice(Math.max(0, (marker?.index ?? 0) - 80), (marker?.index ?? 0) + 40)}…`);
      for (const out of outputsOf(b.code)) assert.ok(wrote(path.join(sandbox, out)), `README block at line ${b.line} did not write ${out}`);
      t.diagnostic(`line ${b.line}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
      ran++;
    }
    assert.ok(ran >= 10, `only ${ran} blocks ran`);
  });
});
