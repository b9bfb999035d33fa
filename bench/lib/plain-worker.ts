import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { BENCH_DIR } from './paths.js';

/**
 * Workers that measure memory run as plain `node` processes on JavaScript, as each engine's users
 * run it, not under `tsx`: tsx's loader and the transpiled sources it keeps cost Steerer (its own
 * TypeScript is ~150 files) some 20 MiB of resident memory more than node-llama-cpp (compiled JS),
 * and both engines ~30 MiB for the loader itself.
 *
 * Steerer is then imported from its build, dist/, rebuilt here from the working tree so that the
 * bench still measures the sources as they are; the worker and the bench files it imports are
 * transpiled one by one into bench/.build/ (git-ignored).
 */

const ROOT = dirname(BENCH_DIR);
const BUILD_DIR = join(BENCH_DIR, '.build');

/** Rebuilds dist/ (the compiled library, what `import 'steerer'` loads) and returns the URL of its index. */
export function buildSteerer(): string {
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript-7', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'inherit' });
  return pathToFileURL(join(ROOT, 'dist', 'index.js')).href;
}

/** Relative module specifiers left in transpiled JavaScript (type-only imports are gone by then). */
function relativeImports(js: string): string[] {
  const found = new Set<string>();
  for (const m of js.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g)) found.add(m[2]);
  return [...found];
}

/**
 * Transpiles `entry` (a .ts file under bench/) and every bench file it imports at run time into
 * bench/.build/, keeping their relative layout; returns the path of the entry's JavaScript.
 * Imports that leave bench/ (Steerer's sources) are refused: a plain worker takes Steerer from dist/.
 */
export function transpileWorker(entry: string): string {
  const done = new Set<string>();
  const pending = [resolve(BENCH_DIR, entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (done.has(file)) continue;
    done.add(file);
    const rel = relative(BENCH_DIR, file);
    if (rel.startsWith('..')) throw new Error(`${entry} imports ${file} at run time, outside bench/; a plain worker takes Steerer from dist/`);
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    }).outputText;
    const out = join(BUILD_DIR, rel.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(`${out}.tmp`, js);
    renameSync(`${out}.tmp`, out);
    for (const spec of relativeImports(js)) pending.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  return join(BUILD_DIR, entry.replace(/\.ts$/, '.js'));
}
