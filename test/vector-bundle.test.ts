import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { describe, test, type TestContext } from 'node:test';
import AdmZip from 'adm-zip';
import { BUNDLE_LIMITS, readBundle } from '../src/io/bundle.js';
import { InvalidInputError } from '../src/io/errors.js';
import { packVectorFile, readVectorBundle, readVectorBundleFile, unpackVectorBundle } from '../src/steering/vector-bundle.js';
import { saveVector } from '../src/steering/vector-file.js';
import type { SteeringVector } from '../src/steering/vector.js';
import { steererSyncIn } from './helpers/cli-in-process.js';
import { rng } from './helpers/prng.js';
import { tempDir } from './helpers/random-model.js';

/**
 * Vector bundles (one zip: the vector, the files made with it, a manifest of SHA-256s): a pack →
 * unpack round trip gives the same bytes, by the library and by the CLI; and a damaged or
 * hostile bundle (truncated at any byte, bytes flipped, paths that climb out, sizes that lie, a
 * zip bomb, hashes that do not match) is refused with an InvalidInputError and writes nothing.
 */

const D = 16;

function vector(seed: number): SteeringVector {
  const r = rng(seed);
  return {
    directions: new Map([0, 1].map((l) => [l, Float32Array.from({ length: D }, () => r() - 0.5)] as [number, Float32Array])),
    meta: { format: 'steerer.vector/v1', model: { name: 'test', architecture: 'LlamaForCausalLM', hiddenSize: D, numLayers: 2 }, method: 'diffmean', site: 'resid_post', createdAt: '2025-01-01T00:00:00.000Z' },
  };
}

/** A folder with happy.safetensors and all four files `vector create --concept` writes beside it. */
function workspace(t: TestContext): { dir: string; files: Record<string, Buffer> } {
  const dir = tempDir('vector-bundle');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  saveVector(path.join(dir, 'happy.safetensors'), vector(1));
  fs.writeFileSync(path.join(dir, 'happy.data.json'), JSON.stringify({ train: [{ positive: 'a', negative: 'b' }] }));
  fs.writeFileSync(path.join(dir, 'happy.lexicon.json'), JSON.stringify({ kind: 'emotion', terms: ['joy'] }));
  fs.writeFileSync(path.join(dir, 'happy.report.json'), JSON.stringify({ format: 'steerer.eval-report/v1' }));
  fs.writeFileSync(path.join(dir, 'happy.report.html'), '<!doctype html><p>report</p>');
  const files = Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
  return { dir, files };
}

const isInvalid = (e: unknown): boolean => e instanceof InvalidInputError;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A zip of the given entries with a manifest written as told (for hostile bundles). */
function craft(manifest: unknown, entries: Record<string, Buffer>): Buffer {
  const zip = new AdmZip();
  zip.addFile('manifest.json', Buffer.from(JSON.stringify(manifest)));
  for (const [name, bytes] of Object.entries(entries)) zip.addFile(name, bytes);
  return zip.toBuffer();
}

/** Renames an entry in place (local and central header): adm-zip itself would clean a climbing name. */
function renameEntry(bundle: Buffer, from: string, to: string): Buffer {
  assert.equal(from.length, to.length);
  const out = Buffer.from(bundle);
  for (let i = out.indexOf(from); i >= 0; i = out.indexOf(from, i + 1)) out.write(to, i);
  return out;
}

/** Sets the uncompressed size every header (local and central) of `name` declares. */
function declareSize(bundle: Buffer, name: string, size: number): Buffer {
  const out = Buffer.from(bundle);
  const encoded = Buffer.from(name);
  for (const [sig, sizeAt, nameLenAt, nameAt] of [[0x04034b50, 22, 26, 30], [0x02014b50, 24, 28, 46]] as const) {
    for (let i = out.indexOf(Buffer.from([0x50, 0x4b])); i >= 0 && i + nameAt < out.length; i = out.indexOf(Buffer.from([0x50, 0x4b]), i + 1)) {
      if (out.readUInt32LE(i) !== sig || out.readUInt16LE(i + nameLenAt) !== encoded.length) continue;
      if (out.subarray(i + nameAt, i + nameAt + encoded.length).equals(encoded)) out.writeUInt32LE(size, i + sizeAt);
    }
  }
  return out;
}

describe('vector bundles', () => {
  test('pack → unpack gives every file back byte for byte; the manifest records each SHA-256', (t) => {
    const { dir, files } = workspace(t);
    const { bundle, members } = packVectorFile(path.join(dir, 'happy.safetensors'));
    assert.deepEqual(members, ['happy.safetensors', 'happy.data.json', 'happy.lexicon.json', 'happy.report.json', 'happy.report.html']);
    const read = readBundle(bundle, 'b');
    assert.deepEqual(read.manifest.members.map((m) => [m.path, m.bytes, m.sha256]), members.map((m) => [m, files[m].length, sha(files[m])]));
    const out = path.join(dir, 'out');
    const written = unpackVectorBundle(readVectorBundle(bundle, 'b'), out);
    assert.deepEqual(written.map((f) => path.basename(f)).sort(), [...members].sort());
    for (const m of members) assert.ok(fs.readFileSync(path.join(out, m)).equals(files[m]), m);
    // Packing is a function of the files: the same files give the same bundle.
    assert.ok(packVectorFile(path.join(dir, 'happy.safetensors')).bundle.equals(bundle));
    // A vector alone bundles alone; --name renames every member.
    const lone = path.join(dir, 'lone.safetensors');
    fs.copyFileSync(path.join(dir, 'happy.safetensors'), lone);
    assert.deepEqual(packVectorFile(lone, 'calm.v2').members, ['calm.v2.safetensors']);
    assert.throws(() => packVectorFile(lone, '../up'), isInvalid);
  });

  test('the CLI: vector pack, then vector unpack refuses to overwrite unless --force', (t) => {
    const { dir, files } = workspace(t);
    const steerer = steererSyncIn(dir);
    const packed = steerer('vector', 'pack', 'happy.safetensors', '-o', 'happy.vector.zip', '--json');
    assert.equal(packed.status, 0, packed.stderr);
    assert.equal(JSON.parse(packed.stdout).members.length, 5);
    const unpacked = steerer('vector', 'unpack', 'happy.vector.zip', '-o', 'copy');
    assert.equal(unpacked.status, 0, unpacked.stderr);
    for (const [name, bytes] of Object.entries(files)) assert.ok(fs.readFileSync(path.join(dir, 'copy', name)).equals(bytes), name);
    // Into a folder that has one of the files: refused, and nothing else is written either.
    fs.mkdirSync(path.join(dir, 'partial'));
    fs.writeFileSync(path.join(dir, 'partial', 'happy.data.json'), 'mine');
    const refused = steerer('vector', 'unpack', 'happy.vector.zip', '-o', 'partial');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /happy\.data\.json already exists \(--force replaces\)/);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'partial')), ['happy.data.json']);
    assert.equal(fs.readFileSync(path.join(dir, 'partial', 'happy.data.json'), 'utf8'), 'mine');
    const forced = steerer('vector', 'unpack', 'happy.vector.zip', '-o', 'partial', '--force');
    assert.equal(forced.status, 0, forced.stderr);
    assert.ok(fs.readFileSync(path.join(dir, 'partial', 'happy.data.json')).equals(files['happy.data.json']));
    const bad = steerer('vector', 'unpack', 'happy.data.json');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /happy\.data\.json: not a readable zip archive/);
  });

  test('truncated at any byte, or with any byte changed: refused, or (bytes zip ignores) the same files', (t) => {
    const { dir, files } = workspace(t);
    const { bundle } = packVectorFile(path.join(dir, 'happy.safetensors'));
    for (let n = 0; n < bundle.length; n++) assert.throws(() => readVectorBundle(bundle.subarray(0, n), 'cut'), isInvalid, `cut at ${n}`);
    const r = rng(99);
    let refused = 0;
    for (let trial = 0; trial < 1000; trial++) {
      const bad = Buffer.from(bundle);
      const at = Math.floor(r() * bad.length);
      bad[at] ^= 1 + Math.floor(r() * 255);
      try {
        const got = readVectorBundle(bad, 'flipped');
        // The change hit something no member depends on (a time stamp, an attribute): same files.
        for (const f of got.files) assert.ok(Buffer.from(f.bytes).equals(files[`${got.name}${f.suffix}`]), `byte ${at}`);
      } catch (e) {
        assert.ok(isInvalid(e), `byte ${at}: ${String(e)}`);
        refused++;
      }
    }
    // Most bytes are members' data or headers that place them; the rest (times, attributes) are ignored.
    assert.ok(refused > 650, `only ${refused} of 1000 damaged bundles refused`);
    // Whatever failed, unpacking wrote nothing: the damage is found before a file is opened.
    const cut = path.join(dir, 'cut.vector.zip');
    fs.writeFileSync(cut, bundle.subarray(0, bundle.length - 30));
    assert.throws(() => unpackVectorBundle(readVectorBundleFile(cut), path.join(dir, 'never')), isInvalid);
    assert.ok(!fs.existsSync(path.join(dir, 'never')));
  });

  test('hostile bundles: climbing paths, foreign entries, lying sizes and hashes, a zip bomb', (t) => {
    const { dir, files } = workspace(t);
    const v = files['happy.safetensors'];
    const record = (p: string, b: Buffer) => ({ path: p, bytes: b.length, sha256: sha(b) });
    const good = { format: 'steerer.vector-bundle/v1', name: 'happy', members: [record('happy.safetensors', v)] };
    assert.equal(readVectorBundle(craft(good, { 'happy.safetensors': v }), 'ok').name, 'happy');
    const refuse = (bundle: Buffer, pattern: RegExp) => assert.throws(() => readVectorBundle(bundle, 'hostile'), (e: unknown) => isInvalid(e) && pattern.test((e as Error).message));
    for (const climbing of ['../evil.json', '/etc/evil.js', 'sub/evil.jsn', '..\\evil.json'.slice(0, 12), '.hidden.json']) {
      refuse(renameEntry(craft(good, { 'happy.safetensors': v, 'XXXXXXXXXXXX': Buffer.from('{}') }), 'XXXXXXXXXXXX', climbing), /not a plain file name/);
    }
    refuse(craft(good, { 'happy.safetensors': v, 'extra.json': Buffer.from('{}') }), /extra\.json is not in manifest\.json/);
    refuse(craft({ ...good, members: [record('../happy.safetensors', v)] }, { 'happy.safetensors': v }), /path.*plain file name/);
    refuse(craft({ ...good, name: '../happy' }, { 'happy.safetensors': v }), /"name" must be a vector name/);
    refuse(craft({ ...good, members: [record('other.safetensors', v)] }, { 'other.safetensors': v }), /not a file a vector bundle holds/);
    refuse(craft({ ...good, members: [{ ...record('happy.safetensors', v), sha256: sha(Buffer.from('x')) }] }, { 'happy.safetensors': v }), /does not match its SHA-256/);
    refuse(craft({ ...good, members: [{ ...record('happy.safetensors', v), bytes: v.length + 1 }] }, { 'happy.safetensors': v }), /manifest says/);
    refuse(craft({ ...good, format: 'other/v1' }, { 'happy.safetensors': v }), /format "other\/v1"/);
    refuse(craft({ ...good, members: [record('happy.data.json', files['happy.data.json'])] }, { 'happy.data.json': files['happy.data.json'] }), /no happy\.safetensors/);
    const notJson = Buffer.from('{not json');
    refuse(craft({ ...good, members: [record('happy.safetensors', v), record('happy.data.json', notJson)] }, { 'happy.safetensors': v, 'happy.data.json': notJson }), /happy\.data\.json is not valid JSON/);
    // An absurd declared size is refused before anything is inflated.
    refuse(declareSize(craft(good, { 'happy.safetensors': v }), 'happy.safetensors', 0xffffffff), new RegExp(`declares 4294967295 bytes; at most ${BUNDLE_LIMITS.memberBytes}`));
    // A bomb: 16 MiB of zeros deflated to ~16 KiB, declaring 4 KiB; inflating stops at what it declares.
    const zeros = Buffer.alloc(16 * 2 ** 20);
    assert.ok(deflateRawSync(zeros).length < 2 ** 15);
    const bomb = declareSize(craft({ ...good, members: [record('happy.safetensors', v), { path: 'happy.data.json', bytes: 4096, sha256: sha(zeros.subarray(0, 4096)) }] }, { 'happy.safetensors': v, 'happy.data.json': zeros }), 'happy.data.json', 4096);
    refuse(bomb, /happy\.data\.json cannot be extracted/);
    // A vector member that is no vector: refused at unpack, nothing written.
    const junk = Buffer.from('not a vector at all');
    const junkBundle = craft({ ...good, members: [record('happy.safetensors', junk)] }, { 'happy.safetensors': junk });
    assert.throws(() => unpackVectorBundle(readVectorBundle(junkBundle, 'junk'), path.join(dir, 'junk')), (e: unknown) => isInvalid(e) && /happy\.safetensors is not a valid vector/.test((e as Error).message));
    assert.deepEqual(fs.readdirSync(path.join(dir, 'junk')), []);
  });
});
