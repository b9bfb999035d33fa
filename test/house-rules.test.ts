import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../src/util/shared-path.js';

/** Small modules with one job each: no source file grows past this many lines (docs/architecture.md). */
const MAX_LINES = 400;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

test(`no file in src/ is longer than ${MAX_LINES} lines`, () => {
  const root = path.join(packageRoot(), 'src');
  const files = sourceFiles(root);
  assert.ok(files.length > 100, `found only ${files.length} source files under ${root}`);
  const long = files
    .map((f) => ({ file: path.relative(packageRoot(), f), lines: fs.readFileSync(f, 'utf8').split('\n').length - 1 }))
    .filter((f) => f.lines > MAX_LINES)
    .map((f) => `${f.file} (${f.lines})`);
  assert.deepEqual(long, [], `split these: ${long.join(', ')}`);
});

// dependency-cruiser reads imports through the `typescript` package's API. Given a version it does
// not support (TypeScript 7 has no such API), it reads no module and reports no violation, so the
// layer check would pass on anything.
test('the layer check can read TypeScript', async () => {
  const { getAvailableTranspilers } = await import('dependency-cruiser');
  const ts = getAvailableTranspilers().find((t) => t.name === 'typescript');
  assert.ok(ts?.available, `dependency-cruiser cannot use the installed typescript (it supports ${ts?.version}): keep \`typescript\` in package.json within that range`);
});

// The first session of a process is checked against ONNX Runtime's crash on long command lines
// (src/graph/create-session.ts): a session created anywhere else could be the first and skip it.
test('every ONNX Runtime session is created through createSession', () => {
  const root = path.join(packageRoot(), 'src');
  const direct = sourceFiles(root)
    .filter((f) => !f.endsWith(path.join('graph', 'create-session.ts')))
    .filter((f) => /InferenceSession\s*\.\s*create\s*\(/.test(fs.readFileSync(f, 'utf8')))
    .map((f) => path.relative(packageRoot(), f));
  assert.deepEqual(direct, [], `create these sessions with createSession: ${direct.join(', ')}`);
});
