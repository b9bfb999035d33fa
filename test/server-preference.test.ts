import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { strengthPreference, type StrengthPreference } from '../src/evals/rating-preference.js';
import type { RecommendationAdoption } from '../src/steering/vector.js';
import { loadVector } from '../src/steering/vector-file.js';
import { steererInProcess } from './helpers/cli-in-process.js';
import { rng } from './helpers/prng.js';
import { getJson, postJson, startServer, TINY, type RunningServer } from './helpers/server.js';
import { skipUnlessShared } from './helpers/shared.js';
import { peaked, simulatedRatings } from './helpers/simulated-rater.js';

/**
 * Ratings tune strength over a real socket: blind ratings of a vector at several strengths are
 * posted, the preferred strength is read beside the automatic one, adopted as the vector's
 * recommendation (file and registry row, with provenance), used by a request that names no
 * coefficient, and undone; the exported ratings give the same fit offline through the CLI.
 */

/** The server's replies, as the library types them (JSON keeps every field these read). */
type Adoption = RecommendationAdoption;
type Preference = StrengthPreference;
interface Info {
  recommended?: { layers?: number[]; coefficient?: number };
  adoptions?: Adoption[];
}

const C_STAR = 3.3;
const AUTOMATIC = 6;

describe('ratings tune strength', { skip: skipUnlessShared(TINY) }, () => {
  let srv: RunningServer;
  let ratings: ReturnType<typeof simulatedRatings>;
  before(async () => {
    srv = await startServer();
    const next = rng(5);
    const direction = Array.from({ length: 128 }, () => next() - 0.5);
    for (const name of ['sad', 'thin']) {
      const up = await postJson(`${srv.url}/v1/vectors`, { name, directions: { 1: direction }, recommended: { layers: [1], coefficient: AUTOMATIC } });
      assert.equal(up.status, 201, JSON.stringify(up.json));
    }
    const u = peaked(C_STAR, 0.15);
    ratings = simulatedRatings({ vector: 'sad', grid: [0, 1, 2, 3, 4, 5, 6, 7, 8], ratings: 80, seed: 11, concept: u, coherence: u, tie: 0.3 });
    // Two ratings of the other vector, at two strengths only: not enough for a preferred strength.
    const thin = simulatedRatings({ vector: 'thin', grid: [0, 4], ratings: 2, seed: 1, concept: u, coherence: u });
    for (const r of [...ratings, ...thin]) assert.equal((await postJson(`${srv.url}/v1/ratings`, r)).status, 201);
  });
  after(() => srv.close());

  const preference = async (name = 'sad', query = '') => getJson<Preference>(`${srv.url}/v1/vectors/${name}/preference${query}`);

  test('the preference: per coefficient with intervals, the preferred strength with its interval, beside the automatic one', async () => {
    const { status, json } = await preference();
    assert.equal(status, 200);
    assert.equal(json.n, 80);
    assert.ok(json.interval![0] <= C_STAR && C_STAR <= json.interval![1], `c* ${C_STAR} outside [${json.interval}]`);
    assert.equal(json.atEdge, false);
    assert.deepEqual(json.perCoefficient.map((c) => c.coefficient), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(json.automatic, { coefficient: AUTOMATIC, source: 'vector file' });
    assert.deepEqual(json.recommended, { coefficient: AUTOMATIC, source: 'vector file' });
    // The server's fit is the library's over the same ratings (stored specs are normalised, the strengths the same).
    const local = strengthPreference(ratings, 'sad', undefined);
    assert.deepEqual([json.preferred, json.interval], [local.preferred, local.interval]);

    const thin = await preference('thin');
    assert.equal(thin.json.preferred, null);
    assert.match(thin.json.reason ?? '', /only 2 strengths/);
    assert.equal((await preference('sad', '?dimension=bogus')).status, 400);
    assert.equal((await preference('nobody')).status, 404);
  });

  test('adopting it rewrites the recommendation with its provenance; a request without a coefficient uses it; undo restores', async () => {
    const { json: p } = await preference();
    const stale = await postJson<{ error: { code: string } }>(`${srv.url}/v1/vectors/sad/preference/adopt`, { expected: p.preferred! + 1 });
    assert.equal(stale.status, 409);
    assert.equal(stale.json.error.code, 'preference_changed');
    const none = await postJson<{ error: { code: string } }>(`${srv.url}/v1/vectors/thin/preference/adopt`, {});
    assert.deepEqual([none.status, none.json.error.code], [409, 'no_preference']);
    assert.equal((await postJson(`${srv.url}/v1/vectors/sad/preference/adopt`, { expected: 'x' })).status, 400);

    const adopted = await postJson<{ vector: Info; adoption: Adoption }>(`${srv.url}/v1/vectors/sad/preference/adopt`, { expected: p.preferred });
    assert.equal(adopted.status, 200, JSON.stringify(adopted.json));
    const a = adopted.json.adoption;
    assert.deepEqual(
      { source: a.source, previous: a.previous, ratings: a.ratings, interval: a.interval, dimension: a.dimension },
      { source: 'human ratings', previous: AUTOMATIC, ratings: 80, interval: p.interval, dimension: 'overall' },
    );
    // The preferred strength, to the largest power of ten at most a tenth of the interval's width.
    const step = 10 ** Math.floor(Math.log10((p.interval![1] - p.interval![0]) / 10));
    assert.ok(Math.abs(a.coefficient - p.preferred!) <= step / 2 + 1e-12, `${a.coefficient} vs ${p.preferred}`);
    assert.ok(Math.abs(a.coefficient / step - Math.round(a.coefficient / step)) < 1e-6, `${a.coefficient} is a multiple of ${step}`);
    assert.equal(a.coefficient, p.adoptable);
    assert.ok(Math.abs(Date.parse(a.adoptedAt) - Date.now()) < 60_000);

    // Visible afterwards: the registry, the vector file on disk, and the preference report.
    const { json: info } = await getJson<Info>(`${srv.url}/v1/vectors/sad`);
    assert.deepEqual(info.recommended, { layers: [1], coefficient: a.coefficient });
    assert.deepEqual(info.adoptions, [a]);
    const onDisk = loadVector(path.join(srv.dataDir, 'vectors', 'sad.safetensors')).meta;
    assert.deepEqual([onDisk.recommended?.coefficient, onDisk.adoptions?.length], [a.coefficient, 1]);
    const after = (await preference()).json;
    assert.deepEqual(after.automatic, { coefficient: AUTOMATIC, source: 'vector file' });
    assert.deepEqual(after.recommended, { coefficient: a.coefficient, source: 'human ratings' });

    // A request naming the vector without a coefficient is steered at the adopted strength.
    const chat = await postJson<{ steerer: { steering: { coefficient: number; coefficientFrom: string }[] } }>(`${srv.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: 'Once upon a time' }],
      max_tokens: 2,
      seed: 1,
      steering: { interventions: [{ vector: 'sad', layers: [1] }] },
    });
    assert.equal(chat.status, 200);
    assert.deepEqual([chat.json.steerer.steering[0].coefficient, chat.json.steerer.steering[0].coefficientFrom], [a.coefficient, 'recommended']);

    const undone = await postJson<{ vector: Info; undone: Adoption }>(`${srv.url}/v1/vectors/sad/preference/undo`, {});
    assert.equal(undone.status, 200);
    assert.deepEqual(undone.json.undone, a);
    assert.deepEqual(undone.json.vector.recommended, { layers: [1], coefficient: AUTOMATIC });
    assert.equal(undone.json.vector.adoptions, undefined);
    assert.equal(loadVector(path.join(srv.dataDir, 'vectors', 'sad.safetensors')).meta.recommended?.coefficient, AUTOMATIC);
    const again = await postJson<{ error: { code: string } }>(`${srv.url}/v1/vectors/sad/preference/undo`, {});
    assert.deepEqual([again.status, again.json.error.code], [409, 'nothing_to_undo']);
  });

  test('the export, fitted offline by `steerer ratings fit`, gives the same preferred strength', async () => {
    const dir = fs.mkdtempSync(path.join(srv.dataDir, 'cli-'));
    fs.writeFileSync(path.join(dir, 'ratings.jsonl'), await (await fetch(`${srv.url}/v1/ratings/export`)).text());
    const steerer = steererInProcess(dir);
    const r = await steerer('ratings', 'fit', '--ratings', 'ratings.jsonl', '--vector', 'sad', '--json');
    assert.equal(r.status, 0, r.stderr);
    const offline = JSON.parse(r.stdout) as Preference;
    const online = (await preference()).json;
    assert.deepEqual([offline.n, offline.preferred, offline.interval], [online.n, online.preferred, online.interval]);
    const text = await steerer('ratings', 'fit', '--ratings', 'ratings.jsonl', '--vector', 'sad');
    assert.match(text.stdout, new RegExp(`preferred strength ${Number(online.preferred!.toPrecision(4))} \\(95% interval`));
    const missing = await steerer('ratings', 'fit', '--ratings', 'nope.jsonl', '--vector', 'sad');
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /--ratings nope\.jsonl: no such file/);
  });
});
