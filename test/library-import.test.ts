import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

// CommonJS packages imported from ES modules go through require's cache, so it shows which
// of them a process has loaded. (node --test runs each test file in a process of its own.)
const loaded = (pkg: string): boolean => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes(`/node_modules/${pkg}/`));

test('importing the library to run a model leaves the server modules unloaded until createServer is called', async () => {
  const lib = await import('../src/index.js');
  // The ANN index and the zip reader wait for their first use too.
  for (const pkg of ['usearch', 'adm-zip']) assert.equal(loaded(pkg), false, `${pkg} was loaded by importing the library`);
  const zip = lib.packBundle('test', {}, [{ path: 'a.bin', bytes: new Uint8Array([1, 2, 3]) }]);
  assert.deepEqual([...lib.readBundle(zip, 'test').members[0].bytes], [1, 2, 3]);
  assert.equal(loaded('adm-zip'), true, 'adm-zip not seen after packing a bundle');
  assert.equal(typeof lib.createServer, 'function');
  assert.equal(typeof lib.HookedModel, 'function');
  for (const pkg of ['fastify', 'better-sqlite3']) assert.equal(loaded(pkg), false, `${pkg} was loaded by importing the library`);
  // What the library's createServer loads on its first call (the check above can see it).
  await import('../src/server/app.js');
  for (const pkg of ['fastify', 'better-sqlite3']) assert.equal(loaded(pkg), true, `${pkg} not seen after loading the server`);
});
