import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { packageRoot } from '../src/util/shared-path.js';
import { fakeJudge } from './helpers/fake-judge.js';
import { rng } from './helpers/prng.js';

/**
 * End to end: the built server plus the built studio in headless Chromium (Debian's, never a
 * downloaded one). A vector registered over the API starts off in the studio, its slider at the
 * recommended strength; the test checks that nothing steers until it is turned on, then checks
 * the replies the studio shows against the API and that a blind rating is stored with the exact
 * steering and seed the studio used.
 */

// Debian's package; STEERER_CHROMIUM points elsewhere (e.g. to a missing path, to see the skip).
const CHROMIUM = process.env.STEERER_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = packageRoot();
const SHARED = process.env.STEERER_SHARED ?? path.resolve(ROOT, '..', 'shared');
const MODEL = path.join(SHARED, 'models', 'tinystories-656k');
const SCREENSHOTS = path.resolve(ROOT, process.env.STEERER_SCREENSHOTS ?? '.tmp/screenshots');

const VECTOR = 'random-dir';
const LAYER = 1;
const HIDDEN = 128;
const RECOMMENDED = 8;
const PROMPT = 'Once upon a time, there was a little girl';
const MAX_TOKENS = 60;
const TEMPERATURE = 0.8;

interface Steering {
  version: 1;
  interventions: { vector: string; layers: number[]; coefficient: number }[];
}

interface StoredRating {
  id: string;
  prompt: string;
  messages?: { role: string; content: string }[];
  concept?: string;
  seed: number;
  blind: boolean;
  a: { text: string; steering: Steering | null };
  b: { text: string; steering: Steering | null };
  preference?: { concept: string; coherence: string };
  scores?: { a: { concept: number; coherence: number }; b: { concept: number; coherence: number } };
  chatId?: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr !== null && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** The server process, its log (for failure messages) and a way to stop it for sure. */
class Server {
  readonly log: string[] = [];
  private readonly child: ChildProcess;
  private exited = false;

  constructor(
    readonly base: string,
    args: string[],
  ) {
    this.child = spawn(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => void this.log.push(chunk.toString());
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.once('exit', () => (this.exited = true));
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`server exited during start-up:\n${this.log.join('')}`);
      try {
        const res = await fetch(`${this.base}/health`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`server not healthy after ${timeoutMs} ms:\n${this.log.join('')}`);
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  async api<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.base}${route}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${route} → ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  }
}

/** A fixed pseudo-random unit direction: unrelated to any concept, but it visibly moves the text. */
function unitDirection(seed: number): number[] {
  const next = rng(seed);
  const v = Array.from({ length: HIDDEN }, () => next() * 2 - 1);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

async function waitReplies(turn: Locator, ids: string[]): Promise<string[]> {
  for (const id of ids) await turn.getByTestId(id).and(turn.locator('[data-state="done"]')).waitFor({ timeout: 15_000 });
  return Promise.all(ids.map(async (id) => (await turn.getByTestId(`${id}-text`).textContent()) ?? ''));
}

async function sendPrompt(page: Page, seed: number): Promise<Locator> {
  await page.getByTestId('seed').fill(String(seed));
  await page.getByTestId('chat-input').fill(PROMPT);
  await page.getByTestId('send').click();
  return page.getByTestId('turn').last();
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, name) });
}

test('studio: slider steering, side-by-side replies and a stored blind rating', { timeout: 90_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`studio browser test skipped: ${CHROMIUM} not found (apt-get install chromium)`);
    t.skip(`${CHROMIUM} not found`);
    return;
  }
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-studio-'));
  const port = await freePort();
  // A judge whose verdicts are known: the concept counts as present iff the reply says "girl".
  const judge = await fakeJudge('girl');
  const server = new Server(`http://127.0.0.1:${port}`, ['serve', '--model', MODEL, '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--judge-url', judge.url, '--judge-model', 'fake']);
  let browser: Browser | undefined;
  let page: Page | undefined;
  try {
    await server.waitHealthy(30_000);
    await server.api('POST', '/v1/vectors', {
      name: VECTOR,
      description: 'A fixed random direction, for the studio test',
      directions: { [LAYER]: unitDirection(1234) },
      recommended: { layers: [LAYER], coefficient: RECOMMENDED },
    });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 20_000,
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(15_000);
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // `/` redirects to the studio.
    await page.goto(`${server.base}/`);
    await page.waitForURL(/\/studio\//);
    await page.getByTestId(`vector-row-${VECTOR}`).waitFor();
    await page.getByTestId('max-tokens').fill(String(MAX_TOKENS));
    await page.getByTestId('temperature').fill(String(TEMPERATURE));

    // The slider starts at the recommended strength (on the slider's 0.1 grid; range ±2x the
    // recommendation) with the vector off, so nothing steers until the person turns it on.
    const slider = page.getByTestId(`strength-slider-${VECTOR}`);
    const value = page.getByTestId(`strength-value-${VECTOR}`);
    const enabled = page.getByTestId(`vector-enabled-${VECTOR}`);
    const summary = page.getByTestId('steering-summary');
    assert.equal(await slider.getAttribute('max'), String(2 * RECOMMENDED));
    assert.equal(await slider.inputValue(), String(RECOMMENDED), 'the slider starts at the recommended strength');
    assert.equal(await value.inputValue(), String(RECOMMENDED));
    assert.equal(await enabled.isChecked(), false, 'a vector starts off');
    assert.match((await summary.textContent()) ?? '', /^No steering/);
    assert.equal(await page.getByTestId(`reset-recommended-${VECTOR}`).count(), 0, 'no "reset to recommended" while at the recommendation');
    assert.equal(await page.getByTestId(`layer-select-${VECTOR}`).inputValue(), String(LAYER));
    const steering: Steering = { version: 1, interventions: [{ vector: VECTOR, layers: [LAYER], coefficient: RECOMMENDED }] };
    const request = { messages: [{ role: 'user', content: PROMPT }], max_tokens: MAX_TOKENS, temperature: TEMPERATURE };
    type Completion = { choices: { message: { content: string } }[] };

    // Off means no steering is sent: the reply is the plain model's for that seed.
    const offTurn = await sendPrompt(page, 11);
    const [offReply] = await waitReplies(offTurn, ['reply-single']);
    assert.match((await offTurn.locator('.turn-meta').textContent()) ?? '', /no steering/);
    const offViaApi = await server.api<Completion>('POST', '/v1/chat/completions', { ...request, seed: 11 });
    assert.equal(offReply, offViaApi.choices[0]?.message.content, 'a vector that is off sends no steering');
    await page.getByTestId('new-chat').click();

    // Moving the slider turns the vector on, as a person would by keyboard: one step right shows
    // "reset to recommended", one step left is back at the recommendation.
    await slider.focus();
    await slider.press('ArrowRight');
    assert.equal(await value.inputValue(), String(RECOMMENDED + 0.1));
    assert.equal(await enabled.isChecked(), true, 'moving the slider turns the vector on');
    await page.getByTestId(`reset-recommended-${VECTOR}`).waitFor();
    await slider.press('ArrowLeft');
    assert.equal(await value.inputValue(), String(RECOMMENDED));
    assert.equal(await page.getByTestId(`reset-recommended-${VECTOR}`).count(), 0);
    assert.match((await summary.textContent()) ?? '', /^1 vector active/);
    // "off" keeps the strength; the checkbox turns it back on.
    await page.getByTestId(`vector-off-${VECTOR}`).click();
    assert.equal(await enabled.isChecked(), false);
    assert.equal(await value.inputValue(), String(RECOMMENDED), '"off" keeps the slider where it is');
    assert.match((await summary.textContent()) ?? '', /^No steering/);
    await enabled.check();
    assert.match((await summary.textContent()) ?? '', /^1 vector active/);

    // Plain chat mode: one streamed reply with the slider's steering.
    const chatTurn = await sendPrompt(page, 11);
    const [chatReply] = await waitReplies(chatTurn, ['reply-single']);
    assert.ok(chatReply.length > 20, `chat reply: ${JSON.stringify(chatReply)}`);
    assert.match((await chatTurn.locator('.turn-meta').textContent()) ?? '', new RegExp(`${VECTOR} ×${RECOMMENDED} @ L${LAYER}`));
    await shot(page, 'studio-chat.png');

    // Side by side: same seed, base and steered replies differ, and match the API exactly.
    await page.getByTestId('new-chat').click();
    await page.getByTestId('mode-side').click();
    const sideSeed = 4242;
    const sideTurn = await sendPrompt(page, sideSeed);
    const [base, steered] = await waitReplies(sideTurn, ['reply-base', 'reply-steered']);
    assert.equal(await sideTurn.getByTestId('turn-seed').textContent(), String(sideSeed));
    assert.notEqual(base, steered, 'steering must change the reply');
    await shot(page, 'studio-side-by-side.png');

    const viaApi = await server.api<Completion>('POST', '/v1/chat/completions', { ...request, seed: sideSeed, steering });
    assert.equal(steered, viaApi.choices[0]?.message.content, 'the studio sent the slider\'s steering and seed');
    const baseViaApi = await server.api<Completion>('POST', '/v1/chat/completions', { ...request, seed: sideSeed });
    assert.equal(base, baseViaApi.choices[0]?.message.content, 'the base reply had no steering');

    // Blind A/B: rate, submit, then the reveal.
    await page.getByTestId('new-chat').click();
    await page.getByTestId('mode-blind').click();
    const blindSeed = 777;
    const blindTurn = await sendPrompt(page, blindSeed);
    const [textA, textB] = await waitReplies(blindTurn, ['reply-a', 'reply-b']);
    await blindTurn.getByTestId('pick-concept-a').click();
    await blindTurn.getByTestId('pick-coherence-b').click();
    await blindTurn.locator('details.scores summary').click();
    await blindTurn.getByTestId('score-a-concept').selectOption('4');
    await blindTurn.getByTestId('score-a-coherence').selectOption('2');
    await blindTurn.getByTestId('score-b-concept').selectOption('1');
    await blindTurn.getByTestId('score-b-coherence').selectOption('5');
    await shot(page, 'studio-rating.png');
    await blindTurn.getByTestId('rating-submit').click();
    const confirmation = blindTurn.getByTestId('rating-confirmation');
    await confirmation.waitFor();
    const steeredSide = await confirmation.getAttribute('data-steered-side');
    assert.ok(steeredSide === 'a' || steeredSide === 'b');
    assert.match((await blindTurn.getByTestId('rating-reveal').textContent()) ?? '', new RegExp(`${steeredSide.toUpperCase()} was steered`));
    await shot(page, 'studio-rating-revealed.png');

    const { data: ratings } = await server.api<{ data: StoredRating[] }>('GET', '/v1/ratings');
    assert.equal(ratings.length, 1);
    const r = ratings[0]!;
    assert.equal(r.seed, blindSeed);
    assert.equal(r.blind, true);
    assert.equal(r.prompt, PROMPT);
    assert.equal(r.concept, VECTOR, 'a vector without a concept is rated for its name');
    assert.deepEqual(r.messages, [{ role: 'user', content: PROMPT }]);
    assert.deepEqual(r.a.text, textA);
    assert.deepEqual(r.b.text, textB);
    // The server stores the spec normalised (defaults such as site and operator filled in), so
    // compare what the studio chose: vector, layer and coefficient.
    const stored = (steeredSide === 'a' ? r.a.steering : r.b.steering)?.interventions;
    assert.deepEqual(
      stored?.map(({ vector, layers, coefficient }) => ({ vector, layers, coefficient })),
      steering.interventions,
    );
    assert.equal(steeredSide === 'a' ? r.b.steering : r.a.steering, null);
    assert.deepEqual(r.preference, { concept: 'a', coherence: 'b' });
    assert.deepEqual(r.scores, { a: { concept: 4, coherence: 2 }, b: { concept: 1, coherence: 5 } });

    // The conversation itself is stored too, and the rating points at it.
    type StoredChat = { id: string; messages: { role: string; content: string }[]; settings: { turns?: { seed: number }[] } };
    const chat = await server.api<StoredChat>('GET', `/v1/chats/${encodeURIComponent(r.chatId ?? 'missing')}`);
    assert.deepEqual(chat.messages, [
      { role: 'user', content: PROMPT },
      { role: 'assistant', content: steeredSide === 'a' ? textA : textB },
    ]);
    assert.deepEqual(chat.settings.turns?.map((turn) => turn.seed), [blindSeed]);

    // The vector's own page and the ratings page.
    await page.getByRole('link', { name: VECTOR, exact: true }).click();
    await page.getByTestId('vector-page').waitFor();
    assert.match((await page.getByTestId('vector-recommended').textContent()) ?? '', new RegExp(`Coefficient${RECOMMENDED}`));
    await shot(page, 'studio-vector.png');
    await page.getByTestId('nav-ratings').click();
    await page.getByTestId('rating-row').first().waitFor();
    assert.equal(await page.getByTestId('rating-row').count(), 1);
    await shot(page, 'studio-ratings.png');

    // The judge run, then the agreement view: one judged rating, its row showing both verdicts.
    await page.getByTestId('run-judge').click();
    await page.getByTestId('agreement-row').first().waitFor({ timeout: 30_000 });
    const agreement = await server.api<{ judged: number; concept: { pairs: number } }>('GET', '/v1/ratings/agreement');
    assert.equal(agreement.judged, 1);
    assert.equal(agreement.concept.pairs, 1);
    const conceptScore = (t: string) => (/\bgirl\b/i.test(t) ? 2 : 0);
    const [sa, sb] = [conceptScore(textA), conceptScore(textB)];
    const judgeCell = `${sa > sb ? 'A' : sb > sa ? 'B' : 'tie'} (${sa} vs ${sb})`;
    assert.ok(((await page.getByTestId('agreement-row').first().textContent()) ?? '').includes(judgeCell), `agreement row shows the judge's ${judgeCell}`);
    await shot(page, 'studio-agreement.png');

    // One-click vector from a concept: job progress, then the new vector's page with its plots,
    // and the vector in the chat's panel. count 8 keeps the pipeline to a few seconds here.
    await page.getByTestId('nav-create').click();
    await page.getByTestId('create-name').fill('happy');
    await page.getByTestId('create-concept').fill('happiness and joy');
    await page.getByTestId('create-count').fill('8');
    await page.getByTestId('create-submit').click();
    await page.locator('[data-testid="create-job"][data-status="succeeded"]').waitFor({ timeout: 60_000 });
    await shot(page, 'studio-create.png');
    await page.getByTestId('created-link').click();
    await page.getByTestId('plot-diagnostics').waitFor();
    await page.getByTestId('plot-strength').waitFor();
    assert.ok((await page.getByTestId('diagnostics-table').locator('tbody tr').count()) >= 1);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'studio-vector-auto.png'), fullPage: true });
    await page.getByTestId('nav-chat').click();
    await page.getByTestId('vector-row-happy').waitFor();

    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  } catch (e) {
    // What the page looked like when it failed, beside the other screenshots.
    await page?.screenshot({ path: path.join(SCREENSHOTS, 'failure.png') }).catch(() => undefined);
    throw e;
  } finally {
    await browser?.close();
    await server.stop();
    await judge.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
