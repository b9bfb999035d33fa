import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { fakeJudge } from './helpers/fake-judge.js';
import { getJson, postJson, startServer, waitForJob, type RunningServer } from './helpers/server.js';

/**
 * Ratings (stored with spec and seed, exported as JSONL), the judge job and its agreement
 * with people, and the one-click vector job with its progress and plots.
 */

interface RatingJson {
  id: string;
  seed: number;
  concept?: string;
  a: { text: string; steering: unknown };
  b: { text: string; steering: { version: number; interventions: { vector: string; coefficient: number }[] } | null };
  judge?: { a: { concept: number; fluency: number }; b: { concept: number; fluency: number } };
}

describe('ratings, judge and agreement', () => {
  // Each test gets its own server and data directory: none sees another's ratings.
  let srv: RunningServer;
  let judge: Awaited<ReturnType<typeof fakeJudge>>;
  before(async () => {
    judge = await fakeJudge();
  });
  beforeEach(async () => {
    srv = await startServer({ judge: { url: judge.url, model: 'fake' } });
  });
  afterEach(() => srv.close());
  after(() => judge.close());

  const steered = { interventions: [{ vector: 'sad', layers: [1], coefficient: 4 }] };
  const rating = (a: string, b: string, extra: Record<string, unknown>) => ({ prompt: 'Tell a story', concept: 'sad', seed: 5, a: { text: a, steering: null }, b: { text: b, steering: steered }, blind: true, ...extra });

  /** Three ratings: preferences only; preferences and 1-5 scores; scores and no concept. Returns the first one's id. */
  async function postThree(): Promise<string> {
    const r1 = await postJson<{ id: string }>(`${srv.url}/v1/ratings`, rating('the dog ran home fast', 'the sad dog cried', { preference: { concept: 'b', coherence: 'a' } }));
    assert.equal(r1.status, 201);
    const r2 = await postJson(`${srv.url}/v1/ratings`, rating('a happy day', 'so sad and very sad', { preference: { concept: 'a', coherence: 'tie' }, scores: { a: { concept: 4, coherence: 5 }, b: { concept: 2, coherence: 1 } } }));
    assert.equal(r2.status, 201);
    const r3 = await postJson(`${srv.url}/v1/ratings`, { ...rating('x', 'y', { scores: { a: { concept: 1, coherence: 3 }, b: { concept: 5, coherence: 2 } } }), concept: undefined });
    assert.equal(r3.status, 201);
    return r1.json.id;
  }

  test('ratings are stored with the full spec and seed, listed and exported as JSONL', async () => {
    const first = await postThree();
    const { json } = await getJson<{ data: RatingJson[] }>(`${srv.url}/v1/ratings`);
    assert.equal(json.data.length, 3);
    assert.equal(json.data[0].id, first);
    // Stored as parsed specs: defaults filled in, so the spec alone reproduces the reply.
    assert.deepEqual(json.data[0].b.steering!.interventions[0], { vector: 'sad', layers: [1], site: 'resid_post', operator: 'add', coefficient: 4, positions: 'all', preserveNorm: false });
    assert.equal(json.data[0].seed, 5);
    const exp = await fetch(`${srv.url}/v1/ratings/export`);
    assert.match(exp.headers.get('content-type') ?? '', /ndjson/);
    const lines = (await exp.text()).trim().split('\n').map((l) => JSON.parse(l) as RatingJson);
    assert.deepEqual(lines.map((l) => l.id), json.data.map((r) => r.id));
  });

  test('bad ratings are refused', async () => {
    const noChoice = await postJson<{ error: { message: string } }>(`${srv.url}/v1/ratings`, rating('a', 'b', {}));
    assert.equal(noChoice.status, 400);
    assert.match(noChoice.json.error.message, /preference/);
    const badScore = await postJson(`${srv.url}/v1/ratings`, rating('a', 'b', { scores: { a: { concept: 6, coherence: 1 }, b: { concept: 1, coherence: 1 } } }));
    assert.equal(badScore.status, 400);
    const badSpec = await postJson<{ error: { message: string } }>(`${srv.url}/v1/ratings`, { ...rating('a', 'b', { preference: { concept: 'a', coherence: 'a' } }), b: { text: 'b', steering: { interventions: [{ vector: 'sad', coefficient: 'lots' }] } } });
    assert.equal(badSpec.status, 400);
    assert.match(badSpec.json.error.message, /b\.steering/);
    assert.equal((await getJson<{ data: unknown[] }>(`${srv.url}/v1/ratings`)).json.data.length, 0, 'nothing was stored');
  });

  test('the judge job scores every rated reply; agreement is computed from its scores', async () => {
    await postThree();
    const job = await postJson<{ id: string }>(`${srv.url}/v1/ratings/judge`, {});
    assert.equal(job.status, 202);
    const done = await waitForJob(srv.url, job.json.id);
    assert.equal(done.status, 'succeeded', done.error);
    assert.equal(done.result!.judged, 2);
    assert.equal(done.result!.skipped, 1);
    assert.match(String(done.result!.judge), /fake/);
    const { json } = await getJson<{ data: RatingJson[] }>(`${srv.url}/v1/ratings`);
    const [j1, j2, j3] = json.data.map((r) => r.judge);
    assert.deepEqual([j1!.a.concept, j1!.b.concept, j1!.a.fluency, j1!.b.fluency], [0, 2, 2, 2]);
    assert.deepEqual([j2!.a.concept, j2!.b.concept, j2!.a.fluency, j2!.b.fluency], [0, 2, 1, 2]);
    assert.equal(j3, undefined, 'no concept: not judged');
    const agree = await getJson<{ judged: number; concept: { pairs: number; agreement: number; spearman: number | null }; coherence: { pairs: number; agreement: number } }>(`${srv.url}/v1/ratings/agreement`);
    assert.equal(agree.json.judged, 2);
    // Concept: human b (judge b: agree), human a (judge b: disagree).
    assert.equal(agree.json.concept.pairs, 2);
    assert.equal(agree.json.concept.agreement, 0.5);
    // Coherence: human a vs judge tie (2,2): disagree; human tie vs judge b (1,2): disagree.
    assert.equal(agree.json.coherence.agreement, 0);
    // Only rating 2 has 1-5 scores: concept human [4,2] vs judge [0,2] → rho = -1.
    assert.equal(agree.json.concept.spearman, -1);
  });
});

interface JudgeRunResult {
  judged: number;
  skipped: number;
  unreadable: number;
  judge: string;
  warning?: string;
}

interface AgreementJson {
  judged: number;
  unreadable: number;
  concept: { pairs: number; agreement: number | null };
  coherence: { pairs: number; agreement: number | null };
  rows: { id: string; judge: { unparsed?: { a: string[]; b: string[] } } }[];
}

async function runJudge(base: string): Promise<{ request: { ratings: number }; result: JudgeRunResult }> {
  const job = await postJson<{ id: string }>(`${base}/v1/ratings/judge`, {});
  assert.equal(job.status, 202);
  const done = await waitForJob(base, job.json.id);
  assert.equal(done.status, 'succeeded', done.error);
  const { json } = await getJson<{ request: { ratings: number } }>(`${base}/v1/jobs/${job.json.id}`);
  return { request: json.request, result: done.result as unknown as JudgeRunResult };
}

describe('judge replies with no readable verdict', () => {
  let srv: RunningServer;
  let judge: Awaited<ReturnType<typeof fakeJudge>>;
  before(async () => {
    // Answers every question except "does it involve the concept" about a text holding "zzz".
    judge = await fakeJudge('sad', { mumble: /whether it involves the concept[\s\S]*zzz/ });
    srv = await startServer({ judge: { url: judge.url, model: 'fake' } });
  });
  after(async () => {
    await srv.close();
    await judge.close();
  });

  test('are reported and left out of the agreement instead of counting as a tie, and are retried', async () => {
    const rating = (a: string, b: string, concept: 'a' | 'b') => ({ prompt: 'Tell a story', concept: 'sad', seed: 1, a: { text: a, steering: null }, b: { text: b, steering: null }, blind: true, preference: { concept, coherence: 'tie' } });
    const readable = await postJson<{ id: string }>(`${srv.url}/v1/ratings`, rating('the dog ran home fast', 'the sad dog cried', 'b'));
    const unreadable = await postJson<{ id: string }>(`${srv.url}/v1/ratings`, rating('zzz the dog ran home', 'the sad zzz dog cried', 'a'));

    const first = await runJudge(srv.url);
    assert.equal(first.request.ratings, 2);
    assert.equal(first.result.judged, 2);
    assert.equal(first.result.unreadable, 1);
    assert.match(first.result.warning ?? '', /^1 of 2 judged ratings got no readable verdict from openai:fake/);

    const { json: stored } = await getJson<{ data: { id: string; judge?: { unparsed?: unknown } }[] }>(`${srv.url}/v1/ratings`);
    assert.equal(stored.data.find((r) => r.id === readable.json.id)?.judge?.unparsed, undefined);
    assert.deepEqual(stored.data.find((r) => r.id === unreadable.json.id)?.judge?.unparsed, { a: ['concept'], b: ['concept'] });

    const { json: agree } = await getJson<AgreementJson>(`${srv.url}/v1/ratings/agreement`);
    assert.equal(agree.judged, 2);
    assert.equal(agree.unreadable, 1);
    // Concept: only the readable pair counts (human b, judge b). Read as 0 vs 0, the other would be a tie against human a.
    assert.deepEqual([agree.concept.pairs, agree.concept.agreement], [1, 1]);
    // Coherence (the judge's fluency) was read on both.
    assert.equal(agree.coherence.pairs, 2);
    assert.deepEqual(agree.rows.map((r) => r.judge.unparsed), [undefined, { a: ['concept'], b: ['concept'] }]);

    // The next run asks again about the unreadable one only.
    const second = await runJudge(srv.url);
    assert.equal(second.request.ratings, 1);
    assert.deepEqual([second.result.judged, second.result.unreadable], [1, 1]);
  });
});

describe('the served base model as judge', () => {
  let srv: RunningServer;
  before(async () => {
    srv = await startServer(); // no judge endpoint: TinyStories, which cannot follow the judge prompts
  });
  after(() => srv.close());

  test('gives no readable verdicts: the run warns and the agreement counts no pairs', async () => {
    const posted = await postJson(`${srv.url}/v1/ratings`, { prompt: 'Tell a story', concept: 'sad', seed: 1, a: { text: 'Tom was happy.', steering: null }, b: { text: 'Tom was sad and cried.', steering: null }, blind: true, preference: { concept: 'b', coherence: 'a' } });
    assert.equal(posted.status, 201);
    const { result } = await runJudge(srv.url);
    assert.equal(result.unreadable, 1);
    assert.match(result.warning ?? '', /no readable verdict from local:/);
    const { json: agree } = await getJson<AgreementJson>(`${srv.url}/v1/ratings/agreement`);
    assert.deepEqual([agree.judged, agree.unreadable, agree.concept.pairs, agree.coherence.pairs], [1, 1, 0, 0]);
  });
});

describe('one-click vector job', () => {
  let srv: RunningServer;
  before(async () => {
    srv = await startServer();
  });
  after(() => srv.close());

  test('creates, reports progress, registers the vector with its plots; refuses bad requests', async () => {
    const bad = await postJson(`${srv.url}/v1/vectors/create`, { name: 'x', concept: 'sad', layer: 9 });
    assert.equal(bad.status, 400);
    const noConcept = await postJson(`${srv.url}/v1/vectors/create`, { name: 'x', concept: '   ' });
    assert.equal(noConcept.status, 400);
    const job = await postJson<{ id: string; status: string }>(`${srv.url}/v1/vectors/create`, { name: 'sad', concept: 'sad', neutral: 'happy', count: 12, seed: 1 });
    assert.equal(job.status, 202);
    assert.equal(job.json.status, 'queued');
    const seen: number[] = [];
    for (let t = Date.now(); Date.now() - t < 120_000; ) {
      const { json } = await getJson<{ status: string; progress: { fraction: number } }>(`${srv.url}/v1/jobs/${job.json.id}`);
      seen.push(json.progress.fraction);
      if (json.status === 'succeeded' || json.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const done = await waitForJob(srv.url, job.json.id);
    assert.equal(done.status, 'succeeded', done.error);
    assert.ok(seen.every((f, i) => f >= 0 && f <= 1 && (i === 0 || f >= seen[i - 1])), `progress not monotone: ${seen}`);
    assert.equal(seen.at(-1), 1);
    const info = await getJson<{ concept: string; recommended: { layers: number[]; coefficient: number }; plots: { diagnostics: boolean; strength: boolean } }>(`${srv.url}/v1/vectors/sad`);
    assert.equal(info.json.concept, 'sad');
    assert.equal(info.json.recommended.layers.length, 1);
    assert.ok(Number.isFinite(info.json.recommended.coefficient));
    assert.deepEqual(info.json.plots, { diagnostics: true, strength: true });
    for (const kind of ['diagnostics', 'strength']) {
      const svg = await fetch(`${srv.url}/v1/vectors/sad/plot/${kind}.svg`);
      assert.equal(svg.status, 200);
      assert.match(await svg.text(), /^<svg/);
    }
    assert.equal((await fetch(`${srv.url}/v1/vectors/sad/plot/other.svg`)).status, 404);
    const taken = await postJson(`${srv.url}/v1/vectors/create`, { name: 'sad', concept: 'sad' });
    assert.equal(taken.status, 409);
    assert.equal((await getJson(`${srv.url}/v1/jobs/job_missing`)).status, 404);
  });
});
