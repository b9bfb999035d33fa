import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { createConceptVector } from '../src/auto/concept-vector.js';
import { loadConceptDataset } from '../src/concept/concept-data.js';
import { openAiGenerator } from '../src/generators/openai-generator.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { loadVector } from '../src/steering/vector-file.js';
import type { EvalReport } from '../src/report/eval-report.js';
import { sharedPath } from '../src/util/shared-path.js';
import { tempDir } from './helpers/random-model.js';
import type { CliResult } from './helpers/cli.js';
import { steererInProcess } from './helpers/cli-in-process.js';

const MODEL = sharedPath('models', 'tinystories-656k');

/**
 * A fresh folder, removed when the test ends, and the CLI run inside it (in this process, which
 * also serves the fake endpoint: the CLI's requests are awaited, so nothing blocks it).
 */
function workspace(t: TestContext): { tmp: string; steerer: (...args: string[]) => Promise<CliResult> } {
  const tmp = tempDir('auto');
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  return { tmp, steerer: steererInProcess(tmp, { STEERER_API_KEY: 'test-key' }) };
}

/** A sad-vs-happy vector (mean difference over twelve pairs) made by `vector create --pairs` in the test's folder. */
async function sadVector(tmp: string, steerer: (...args: string[]) => Promise<CliResult>): Promise<void> {
  const subjects = ['Lily', 'Tom', 'Ben', 'Sue', 'The dog', 'Mia'];
  const sad = ['was very sad. She cried because her toy was broken.', 'felt alone and sad. Nobody wanted to play.'];
  const happy = ['was very happy. She laughed because her toy was fun.', 'felt happy and loved. Everyone wanted to play.'];
  const lines = subjects.flatMap((s) => sad.map((t, k) => JSON.stringify({ positive: `${s} ${t}`, negative: `${s} ${happy[k]}` })));
  fs.writeFileSync(path.join(tmp, 'pairs.jsonl'), `${lines.join('\n')}\n`);
  const made = await steerer('vector', 'create', '-m', MODEL, '--pairs', 'pairs.jsonl', '-o', 'sad.safetensors');
  assert.equal(made.status, 0, made.stderr);
}

/** An OpenAI-compatible endpoint that writes numbered lists and rates everything 2. */
let server: http.Server;
let url = '';
const seen: { auth?: string; body: { messages: { content: string }[] } }[] = [];
before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { messages: { content: string }[]; seed?: number };
      seen.push({ auth: req.headers.authorization, body: parsed });
      const ask = parsed.messages.at(-1)!.content;
      const s = parsed.seed ?? 0;
      let content: string;
      if (/Rating:/.test(ask)) content = 'It fits.\nRating: 2';
      else if (!/none may mention/.test(ask)) {
        content = Array.from({ length: 10 }, (_, i) => `${i + 1}. Lily cried all day because her dog number ${s * 10 + i} was lost and never came home.`).join('\n');
      } else {
        content = Array.from({ length: 10 }, (_, i) => `${i + 1}. Tom walked to the shop number ${s * 10 + i} and bought some bread for lunch.`).join('\n');
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(() => server.close());

describe('one-click vectors', () => {
  test('vector create --concept --coef auto: lexicon, gated data, vector and report; generate --steer uses the recommendation', async (t) => {
    const { tmp, steerer } = workspace(t);
    const r = await steerer('vector', 'create', '-m', MODEL, '--concept', 'sad', '--coef', 'auto', '--count', '24', '--probe-tokens', '32', '--threads', '2', '-o', 'sad.safetensors', '--json');
    assert.equal(r.status, 0, r.stderr);
    const v = loadVector(path.join(tmp, 'sad.safetensors'));
    const auto = v.meta.auto!;
    assert.equal(auto.concept, 'sad');
    assert.equal(auto.kind, 'feeling');
    assert.deepEqual(v.meta.recommended, { layers: auto.layers, coefficient: auto.coefficient });
    // The lexicon is stored with the vector and beside it.
    const words = auto.lexicon!.terms.map((t) => t.word);
    assert.ok(words.includes('sad') && words.includes('sadness'), words.join(','));
    assert.ok(fs.existsSync(path.join(tmp, 'sad.lexicon.json')));
    // Every variant and layer was tried at the same strength before the search.
    assert.ok(auto.layerRanking.length >= 2);
    const curve = auto.strength!.curve;
    assert.equal(curve[0].coefficient, 0);
    const chosen = curve.find((p) => p.coefficient === auto.coefficient)!;
    assert.ok(chosen, 'the chosen coefficient was measured');
    assert.ok(chosen.feasible && chosen.cost <= 0.25 + 1e-12, 'within the default budget (perplexity ≤ 1.25× unsteered)');
    for (const p of curve) assert.equal(p.feasible, p.cost <= 0.25 && !p.why, `feasibility of ${p.coefficient} follows its cost`);
    assert.ok(auto.strength!.confirmation, 'confirmed on fresh seeds');
    assert.ok(auto.strength!.explanation.some((e) => /"cost" is that ratio minus 1/.test(e)));
    assert.ok(Object.keys(chosen.metrics).includes('likelihood') && Object.keys(chosen.metrics).includes('projection'), 'other concept scores reported beside presence');
    const data = loadConceptDataset(path.join(tmp, 'sad.data.json'));
    assert.equal(data.concept, 'sad');
    assert.deepEqual(data.sources!.map((s) => s.source), ['pairs', 'continuations']);
    const pairs = data.sources!.find((s) => s.source === 'pairs')!;
    assert.equal(pairs.considered, 24);
    assert.equal(pairs.negativeHits, 0, 'minimal pairs: the neutral side never names the concept');
    assert.equal(data.train.length + data.validation.length + data.dropped.length, 48);
    const html = fs.readFileSync(path.join(tmp, 'sad.report.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.match(html, /Strength \(rule/);
    const report = JSON.parse(fs.readFileSync(path.join(tmp, 'sad.report.json'), 'utf8')) as EvalReport;
    assert.equal(report.curve.length, curve.length);

    // The user's next step: generate --steer FILE with no coefficient applies the recommendation and says so.
    const g = await steerer('generate', '-m', MODEL, '--steer', 'sad.safetensors', '--prompt', 'Once upon a time', '--max-tokens', '8', '--seed', '1', '--json');
    assert.equal(g.status, 0, g.stderr);
    const used = (JSON.parse(g.stdout) as { steering: { coefficient: number; coefficientFrom: string; layers: number[] }[] }).steering[0];
    assert.equal(used.coefficient, auto.coefficient);
    assert.equal(used.coefficientFrom, 'recommended');
    assert.deepEqual(used.layers, auto.layers);
    assert.match(g.stderr, /steering: sad\.safetensors at layers? [\d,]+, coefficient [-\d.e]+ \(recommended\)/);
  });

  test('steerer eval: sweep, capability retention on ARC-Easy and a CAA behaviour, judge through an endpoint', async (t) => {
    const { tmp, steerer } = workspace(t);
    await sadVector(tmp, steerer);
    // A vector made from pairs records no layer nor concept: both are given.
    const seenBefore = seen.length;
    const r = await steerer('eval', '-m', MODEL, '--vector', 'sad.safetensors', '--layer', '1', '--concept', 'sad', '--coefs', '0,2,4', '--benchmarks', 'arc_easy', '--caa', 'sycophancy', '--limit', '16', '--max-tokens', '16', '--judge-url', url, '-o', 'eval-sad', '--json');
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(fs.readFileSync(path.join(tmp, 'eval-sad.json'), 'utf8')) as EvalReport;
    assert.deepEqual(report.curve.map((p) => p.coefficient), [0, 2, 4]);
    const arc = report.capability!.find((c) => c.name === 'arc_easy' && c.metric === 'accuracy')!;
    assert.equal(arc.n, 16);
    assert.ok(arc.base >= 0 && arc.base <= 1 && arc.steered >= 0 && arc.steered <= 1);
    assert.ok(Math.abs(arc.relativeChange - (arc.steered - arc.base) / arc.base) < 1e-12 || arc.base === 0);
    const caa = report.capability!.find((c) => c.name === 'caa/sycophancy')!;
    assert.ok(caa.base > 0 && caa.base < 1);
    // The fake judge rates 2 everywhere: harmonic mean 2, and it got the key.
    assert.equal(report.judge!.steered.score, 2);
    assert.equal(report.judge!.unparsed, 0);
    assert.ok(seen.slice(seenBefore).some((s) => s.auth === 'Bearer test-key'));
    assert.match(fs.readFileSync(path.join(tmp, 'eval-sad.html'), 'utf8'), /Capability retention/);
  });

  test('bad input: unknown layer, NaN coefficient, unknown benchmark, missing generator URL', async (t) => {
    const { tmp, steerer } = workspace(t);
    await sadVector(tmp, steerer);
    const bad = await Promise.all([
      steerer('vector', 'create', '-m', MODEL, '--concept', 'sad', '--layer', '7', '-o', 'x.safetensors'),
      steerer('vector', 'create', '-m', MODEL, '--concept', 'sad', '--coef', 'NaN', '-o', 'x.safetensors'),
      steerer('vector', 'create', '-m', MODEL, '--concept', 'sad', '--source', 'endpoint', '-o', 'x.safetensors'),
      steerer('vector', 'create', '-m', MODEL, '--concept', 'sad', '--count', '1000000000', '-o', 'x.safetensors'),
      steerer('vector', 'create', '-m', MODEL, '--concept', 'sad', '--probe-tokens', '99999', '-o', 'x.safetensors'),
      steerer('eval', '-m', MODEL, '--vector', 'sad.safetensors', '--benchmarks', 'nope'),
    ]);
    for (const r of bad) {
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^steerer: /);
    }
    assert.match(bad[0].stderr, /layer 7/);
    assert.match(bad[3].stderr, /count must be an integer from 4 to 4096/);
    assert.match(bad[4].stderr, /probe texts must be 1\.\.511 tokens/);
    assert.match(bad[5].stderr, /unknown benchmark/);
    assert.ok(!fs.existsSync(path.join(tmp, 'x.safetensors')));
  });

  test('an external generator writes the data (endpoint source), filtered and split', async () => {
    const model = new HookedModel(loadModel(MODEL), { threads: 2 });
    try {
      const r = await createConceptVector(model, {
        concept: 'sad',
        sources: [{ kind: 'endpoint', generator: openAiGenerator({ baseUrl: url, model: 'big' }) }],
        count: 20,
        layer: 1,
        coefficient: 2,
      });
      assert.equal(r.dataset.source, 'endpoint');
      const all = [...r.dataset.train, ...r.dataset.validation];
      assert.ok(all.length >= 8);
      // A base model reads whole texts: the generator's sad lines on one side, neutral ones on the other.
      for (const i of all) {
        assert.equal(i.positive.prompt, '');
        assert.match(i.positive.completion, /cried/);
        assert.match(i.negative.completion, /bread/);
      }
      assert.equal(r.selection.coefficient, 2);
      assert.equal(r.vector.meta.auto!.source, 'endpoint');
      assert.match(r.dataset.generator, /big/);
    } finally {
      await model.dispose();
    }
  });
});
