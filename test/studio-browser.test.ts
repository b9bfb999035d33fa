import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { chromium, type Browser, type Locator, type Page, type Request } from 'playwright-core';
import { packageRoot } from '../src/util/shared-path.js';
import { cliArgs } from './helpers/cli.js';
import { fakeJudge } from './helpers/fake-judge.js';
import { rng } from './helpers/prng.js';
import { writeRandomHfModel } from './helpers/random-model.js';
import { startServer } from './helpers/server.js';
import { writeHandStore } from './helpers/hand-store.js';
import { peaked, simulatedRatings } from './helpers/simulated-rater.js';
import { buildActivationIndex } from '../src/explore/activation-index.js';
import { saveVector } from '../src/steering/vector-file.js';
import { readBundle } from '../src/io/bundle.js';

/**
 * End to end: the server (the build under `npm test`, else the sources, see cliArgs) plus the
 * built studio (npm run build:studio) in headless Chromium (Debian's, never a downloaded one).
 * A vector registered over the API starts off in the studio, its slider at the recommended
 * strength; the test checks that nothing steers until it is turned on, that a base model's
 * prompt starts a new story unless the person picks "Continue", that a reload keeps the chat and
 * saved chats reopen, then checks the replies the studio shows against the API, that a blind
 * rating is stored with the exact steering and seed the studio used, and that a judge reply with
 * no verdict is shown as such rather than as a tie.
 */

// Debian's package; STEERER_CHROMIUM points elsewhere (e.g. to a missing path, to see the skip).
const CHROMIUM = process.env.STEERER_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = packageRoot();
const SHARED = process.env.STEERER_SHARED ?? path.resolve(ROOT, '..', 'shared');
const MODEL = path.join(SHARED, 'models', 'tinystories-656k');
// Screenshots of each step (for docs/screenshots) only when asked: STEERER_SCREENSHOTS=DIR. A
// failure's screenshot is always written, to DIR or .tmp/screenshots.
const WANT_SHOTS = process.env.STEERER_SCREENSHOTS !== undefined;
const SCREENSHOTS = path.resolve(ROOT, process.env.STEERER_SCREENSHOTS ?? '.tmp/screenshots');

const VECTOR = 'random-dir';
// Condition vectors for "only when" (conditional steering).
const ALWAYS = 'cond-always';
const NEVER = 'cond-never';
const LAYER = 1;
const HIDDEN = 128;
const RECOMMENDED = 8;
const PROMPT = 'Once upon a time, there was a little girl';
const STORY_PROMPT = 'Tom had a big red ball';
const NEXT_PROMPT = 'The next day, Tom went to the park';
// A recommendation as a strength search leaves it: 16 digits, of which the studio shows 4.
const LONG_VECTOR = 'pi-dir';
const LONG_COEFFICIENT = Math.PI;
// Enough vectors that the panel must scroll: 14 rows in an 800-pixel window.
const FILLERS = Array.from({ length: 12 }, (_, i) => `filler-${String(i).padStart(2, '0')}`);
// Ratings whose replies hold this word get judge replies with no verdict (a judge that cannot judge).
const UNREADABLE = 'unreadable-marker';
const MAX_TOKENS = 60;
const TEMPERATURE = 0.8;

interface Steering {
  version: 1;
  interventions: { vector: string; layers: number[]; coefficient: number }[];
}

interface Message {
  role: string;
  content: string;
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
    this.child = spawn(process.execPath, [...cliArgs(), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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

async function sendPrompt(page: Page, seed: number, prompt = PROMPT): Promise<Locator> {
  await page.getByTestId('seed').fill(String(seed));
  await page.getByTestId('chat-input').fill(prompt);
  await page.getByTestId('send').click();
  return page.getByTestId('turn').last();
}

const isCompletion = (r: Request): boolean => r.method() === 'POST' && new URL(r.url()).pathname === '/v1/chat/completions';

/** Sends a prompt and returns the messages the studio put in its completion request. */
async function sendCapturing(page: Page, seed: number, prompt: string): Promise<{ turn: Locator; messages: Message[] }> {
  const request = page.waitForRequest(isCompletion);
  const turn = await sendPrompt(page, seed, prompt);
  const body = (await request).postDataJSON() as { messages: Message[] };
  return { turn, messages: body.messages };
}

/** The prompt and reply text of every turn on screen. */
async function turnTexts(page: Page): Promise<{ prompt: string; reply: string }[]> {
  const turns = await page.getByTestId('turn').all();
  return Promise.all(
    turns.map(async (t) => ({
      prompt: (await t.getByTestId('turn-prompt').textContent()) ?? '',
      reply: (await t.getByTestId('reply-single-text').textContent()) ?? '',
    })),
  );
}

/** Whether the element is wholly inside the window (no page scrolling needed to see it). */
async function inViewport(page: Page, locator: Locator): Promise<boolean> {
  const box = await locator.boundingBox();
  const size = page.viewportSize();
  return box !== null && size !== null && box.y >= 0 && box.x >= 0 && box.y + box.height <= size.height && box.x + box.width <= size.width;
}

/**
 * Decimal numbers shown inside `root` with more than `max` significant digits (dates and ids
 * have none). Each innermost element is read alone, so adjacent table cells do not run together.
 */
async function longNumbers(root: Locator, max = 4): Promise<string[]> {
  const texts = await root.locator('*:not(:has(*))').allTextContents();
  return texts.flatMap((t) => [...t.matchAll(/\d+\.\d+/g)].map((m) => m[0])).filter((n) => n.replace('.', '').replace(/^0+/, '').length > max);
}

async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 20_000,
  });
}

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  if (WANT_SHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage });
}

test('studio: slider steering, new story vs continue, saved chats, side-by-side replies, a blind rating and the judge', { timeout: 150_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`studio browser test skipped: ${CHROMIUM} not found (apt-get install chromium)`);
    t.skip(`${CHROMIUM} not found`);
    return;
  }
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-studio-'));
  const port = await freePort();
  // A judge whose verdicts are known: the concept counts as present iff the reply says "girl";
  // about a reply holding UNREADABLE it answers with a story and no verdict.
  const judge = await fakeJudge('girl', { mumble: new RegExp(UNREADABLE) });
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
    for (const [i, name] of [LONG_VECTOR, ...FILLERS].entries()) {
      const recommended = name === LONG_VECTOR ? { layers: [LAYER], coefficient: LONG_COEFFICIENT } : undefined;
      await server.api('POST', '/v1/vectors', { name, directions: { [LAYER]: unitDirection(2000 + i) }, ...(recommended ? { recommended } : {}) });
    }
    // Conditional steering: condition vectors (as `vector condition fit` writes them) whose cosine
    // threshold always (above −2) or never (above 2) holds.
    for (const [name, threshold] of [[ALWAYS, -2], [NEVER, 2]] as const) {
      const file = path.join(dataDir, `${name}.upload.safetensors`);
      saveVector(file, {
        directions: new Map([[LAYER, Float32Array.from(unitDirection(3000))]]),
        meta: { format: 'steerer.vector/v1', model: { name: 'tinystories-656k', architecture: 'llama', hiddenSize: HIDDEN, numLayers: 2 }, method: 'diffmean', site: 'resid_post', createdAt: new Date(0).toISOString(), condition: { layer: LAYER, read: 'prompt', reduce: 'mean', measure: 'cosine', threshold, compare: 'above' } },
      });
      await server.api('POST', '/v1/vectors', { name, safetensors: fs.readFileSync(file).toString('base64') });
    }

    browser = await launchBrowser();
    // en-US, so dates hold no decimal points for the number check below.
    page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    page.setDefaultTimeout(15_000);
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // `/` redirects to the studio.
    await page.goto(`${server.base}/`);
    await page.waitForURL(/\/studio\//);
    await page.getByTestId(`vector-row-${VECTOR}`).waitFor();
    await page.getByTestId('max-tokens').fill(String(MAX_TOKENS));
    await page.getByTestId('temperature').fill(String(TEMPERATURE));

    // The vector panel scrolls on its own: its list is taller than the window, the page is not,
    // and with its last row (VECTOR, by name) scrolled into view the panel's head and the
    // composer are still on screen.
    const list = page.getByTestId('vector-list');
    const scroll = await list.evaluate((el) => ({ height: el.scrollHeight, visible: el.clientHeight }));
    assert.ok(scroll.height > scroll.visible, `the vector list should overflow into its own scroll area: ${JSON.stringify(scroll)}`);
    await page.getByTestId(`strength-slider-${VECTOR}`).scrollIntoViewIfNeeded();
    assert.ok(await page.locator('html').evaluate((el) => el.scrollHeight <= el.clientHeight), 'the page itself does not scroll');
    assert.ok(await list.evaluate((el) => el.scrollTop > 0), 'the list scrolled to show the last vector');
    for (const id of [`strength-slider-${VECTOR}`, 'reset-steering', 'steering-summary', 'chat-input', 'send']) {
      assert.ok(await inViewport(page, page.getByTestId(id)), `${id} is on screen`);
    }
    await shot(page, 'studio-panel-scrolled.png');

    // A 16-digit recommendation shows with 4 significant digits.
    const longRow = (await page.getByTestId(`vector-row-${LONG_VECTOR}`).textContent()) ?? '';
    assert.ok(longRow.includes(`recommended ×${Number(LONG_COEFFICIENT.toPrecision(4))}`), longRow);
    assert.deepEqual(await longNumbers(page.getByTestId('vector-panel')), [], 'no long numbers in the panel');

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

    // TinyStories has no chat template, so by default the next prompt starts a new story: the
    // request holds that prompt alone, not the transcript, and the reply is the model's for it.
    assert.equal(await page.getByTestId('context-new').getAttribute('aria-checked'), 'true', 'a base model starts a new story by default');
    assert.match((await page.getByTestId('context-hint').textContent()) ?? '', /Base model/);
    const story = await sendCapturing(page, 12, STORY_PROMPT);
    assert.deepEqual(story.messages, [{ role: 'user', content: STORY_PROMPT }], 'a new story sends the new prompt alone');
    const [storyReply] = await waitReplies(story.turn, ['reply-single']);
    assert.equal(await story.turn.getByTestId('turn-context').textContent(), 'new story');
    const storyViaApi = await server.api<Completion>('POST', '/v1/chat/completions', { ...request, messages: story.messages, seed: 12 });
    assert.equal(storyReply, storyViaApi.choices[0]?.message.content);
    await shot(page, 'studio-new-story.png');

    // "Continue" carries on the story on screen: its prompt and reply, then the new prompt.
    await page.getByTestId('context-continue').click();
    const next = await sendCapturing(page, 13, NEXT_PROMPT);
    assert.deepEqual(next.messages, [
      { role: 'user', content: STORY_PROMPT },
      { role: 'assistant', content: storyReply },
      { role: 'user', content: NEXT_PROMPT },
    ]);
    await waitReplies(next.turn, ['reply-single']);
    assert.equal(await next.turn.getByTestId('turn-context').textContent(), 'continues (2 earlier messages)');

    // A reload keeps the chat (once saved), and how it was being continued.
    await page.locator('[data-testid="save-state"][data-state="saved"]').waitFor();
    const before = await turnTexts(page);
    assert.deepEqual(before.map((x) => x.prompt), [PROMPT, STORY_PROMPT, NEXT_PROMPT]);
    await page.reload();
    await page.getByTestId('turn').nth(2).waitFor();
    assert.deepEqual(await turnTexts(page), before, 'the reloaded chat shows the same turns');
    assert.equal(await page.getByTestId('context-continue').getAttribute('aria-checked'), 'true');
    const { data: chatsNow } = await server.api<{ data: { id: string }[] }>('GET', '/v1/chats');
    assert.equal(chatsNow.length, 1, 'a reload neither loses the chat nor starts another');
    const storyChatId = chatsNow[0]!.id;
    // The page's own settings start afresh after a reload.
    await page.getByTestId('max-tokens').fill(String(MAX_TOKENS));
    await page.getByTestId('temperature').fill(String(TEMPERATURE));
    await page.getByTestId('context-new').click();
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

    // ---- Conditional steering: the same vector "only when" a condition vector holds. One that
    // never holds gives the plain model's reply, one that always holds the steered reply, and
    // each reply says which. (Condition vectors are the only ones the select offers.)
    const whenSelect = page.getByTestId(`when-select-${VECTOR}`);
    assert.deepEqual(await whenSelect.locator('option').allTextContents(), ['always', ALWAYS, NEVER]);
    for (const [condition, expected, held] of [[NEVER, offReply, 'false'], [ALWAYS, chatReply, 'true']] as const) {
      await whenSelect.selectOption(condition);
      const gated = await sendPrompt(page, 11);
      const [reply] = await waitReplies(gated, ['reply-single']);
      assert.equal(reply, expected, `only when ${condition}`);
      assert.match((await gated.locator('.turn-meta').textContent()) ?? '', new RegExp(`when ${condition}`));
      assert.equal(await gated.getByTestId('reply-condition').getAttribute('data-held'), held);
    }
    await whenSelect.selectOption('');
    // ---- end of conditional steering

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

    // Saved chats: all four, newest first, the one on screen marked; opening the story chat
    // shows its turns again, ready to continue.
    await page.getByTestId('saved-chats-link').click();
    const rows = page.getByTestId('chat-row');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 4);
    assert.equal(await rows.first().getAttribute('data-chat-id'), r.chatId, 'newest first');
    assert.match((await rows.first().getAttribute('class')) ?? '', /highlight/, 'the chat on screen is marked');
    const storyRow = page.locator(`[data-testid="chat-row"][data-chat-id="${storyChatId}"]`);
    assert.equal(await storyRow.getByTestId('chat-turns').textContent(), '3');
    await shot(page, 'studio-saved-chats.png');
    await storyRow.getByTestId('open-chat').click();
    await page.waitForURL(/#\/chat$/);
    await page.getByTestId('turn').nth(2).waitFor();
    assert.deepEqual(await turnTexts(page), before, 'the reopened chat shows its turns');
    assert.equal(await page.getByTestId('context-continue').getAttribute('aria-checked'), 'true');
    assert.equal(await page.getByTestId('mode-chat').getAttribute('aria-selected'), 'true');

    // A rating the judge cannot read: it must show as no verdict, not as a tie.
    await server.api('POST', '/v1/ratings', {
      prompt: 'Tell a story',
      concept: VECTOR,
      seed: 1,
      a: { text: `${UNREADABLE}: a girl ran home`, steering: null },
      b: { text: `${UNREADABLE}: the dog sat`, steering: steering },
      blind: true,
      preference: { concept: 'a', coherence: 'b' },
    });

    // The vector's own page and the ratings page.
    await page.getByRole('link', { name: VECTOR, exact: true }).click();
    await page.getByTestId('vector-page').waitFor();
    assert.match((await page.getByTestId('vector-recommended').textContent()) ?? '', new RegExp(`Coefficient${RECOMMENDED}`));
    // What it means: an activation index dropped into DATA_DIR/indexes is used without a restart.
    const store = writeHandStore(path.join(dataDir, 'indexes', 'stories', 'store'), Float32Array.from({ length: 400 * HIDDEN }, rng(77)), HIDDEN, {
      model: { name: 'tinystories-656k', hiddenSize: HIDDEN, numLayers: 2 },
    });
    await buildActivationIndex(store, path.join(dataDir, 'indexes', 'stories'), { decode: (ids) => ids.map((id) => ` w${id}`), threads: 1 });
    await page.getByTestId('explain-vector').click();
    await page.getByTestId('explain-tokens').waitFor();
    assert.equal(await page.getByTestId('explain-tokens').locator('tbody tr').count(), 1, 'one row per layer of the vector');
    assert.equal(await page.getByTestId('explain-passages').locator('.passage').count(), 16, '8 passages reading highest, 8 lowest');
    assert.ok((await page.getByTestId('explain-similar').locator('li').count()) >= 1, 'the registry holds vectors like it');
    await shot(page, 'studio-vector.png');
    await page.getByTestId('nav-chat').click();
    await page.getByRole('link', { name: LONG_VECTOR, exact: true }).click();
    await page.getByTestId('vector-page').waitFor();
    assert.match((await page.getByTestId('vector-recommended').textContent()) ?? '', /Coefficient3\.142(?!\d)/);
    await page.getByTestId('nav-ratings').click();
    await page.getByTestId('rating-row').first().waitFor();
    assert.equal(await page.getByTestId('rating-row').count(), 2);
    await shot(page, 'studio-ratings.png');

    // The judge run, then the agreement view: the studio's rating judged, its row showing both
    // verdicts; the unreadable one shown as no verdict, with a warning, and left out of the pairs.
    await page.getByTestId('run-judge').click();
    await page.getByTestId('agreement-row').nth(1).waitFor({ timeout: 30_000 });
    const agreement = await server.api<{ judged: number; unreadable: number; concept: { pairs: number } }>('GET', '/v1/ratings/agreement');
    assert.equal(agreement.judged, 2);
    assert.equal(agreement.unreadable, 1);
    assert.equal(agreement.concept.pairs, 1, 'the unreadable verdict is not counted as a tie');
    const conceptScore = (t: string) => (/\bgirl\b/i.test(t) ? 2 : 0);
    const [sa, sb] = [conceptScore(textA), conceptScore(textB)];
    const judgeCell = `${sa > sb ? 'A' : sb > sa ? 'B' : 'tie'} (${sa} vs ${sb})`;
    assert.ok(((await page.getByTestId('agreement-row').first().textContent()) ?? '').includes(judgeCell), `agreement row shows the judge's ${judgeCell}`);
    const unreadableRow = (await page.getByTestId('agreement-row').nth(1).textContent()) ?? '';
    assert.ok(unreadableRow.includes('no verdict'), unreadableRow);
    assert.doesNotMatch(unreadableRow, /tie \(0 vs 0\)/);
    assert.match((await page.getByTestId('judge-warning').textContent()) ?? '', /no readable verdict on 1 of 2 judged ratings/);
    assert.match((await page.getByTestId('rating-row').nth(1).textContent()) ?? '', /unreadable \/ unreadable/);
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
    // A strength search's numbers (recommendation, diagnostics, the curve) are all shown short.
    assert.deepEqual(await longNumbers(page.getByTestId('vector-page')), [], 'numbers on the vector page have at most 4 significant digits');
    await shot(page, 'studio-vector-auto.png', true);
    await page.getByTestId('nav-chat').click();
    await page.getByTestId('vector-row-happy').waitFor();

    // ---- Vector library (issue 20, part 4): search by name, concept and likeness; download a file. ----
    {
      await page.getByTestId('nav-library').click();
      const rows = page.getByTestId('library-row');
      const shown = async (): Promise<string[]> => rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-name') ?? ''));
      await rows.first().waitFor();
      await page.getByTestId('library-search-name').fill('filler-0');
      assert.deepEqual(await shown(), FILLERS.filter((f) => f.startsWith('filler-0')));
      await page.getByTestId('library-search-name').fill('');
      await page.getByTestId('library-search-concept').fill('JOY');
      assert.deepEqual(await shown(), ['happy'], 'the one-click vector is found by its concept');
      await page.getByTestId('library-search-concept').fill('');
      // Likeness to VECTOR: each hand-made direction's cosine, computed here, shown to 3 digits, most alike first.
      await page.getByTestId('library-like').selectOption(`/${VECTOR}`);
      await page.getByTestId('library-cosine').first().waitFor();
      const target = unitDirection(1234);
      const expected = new Map([LONG_VECTOR, ...FILLERS].map((name, i) => [name, unitDirection(2000 + i).reduce((s, x, k) => s + x * target[k], 0)]));
      const cells = await rows.evaluateAll((rs) => rs.map((r) => [r.getAttribute('data-name') ?? '', r.querySelector('[data-testid="library-cosine"]')?.textContent ?? ''] as const));
      for (const [name, text] of cells) if (expected.has(name)) assert.equal(text, String(Number(expected.get(name)!.toPrecision(3))), name);
      const values = cells.map(([, text]) => (text === '—' ? -Infinity : Number(text)));
      assert.deepEqual(values, [...values].sort((x, y) => y - x), 'sorted by cosine');
      assert.equal(cells.at(-1)?.[0], VECTOR, 'the chosen vector itself comes last');
      // The file link downloads the stored bytes under the vector's name; the bundle link is beside it.
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(`download-file-${VECTOR}`).click()]);
      assert.equal(download.suggestedFilename(), `${VECTOR}.safetensors`);
      const got = fs.readFileSync((await download.path())!);
      assert.ok(got.equals(fs.readFileSync(path.join(dataDir, 'vectors', `${VECTOR}.safetensors`))), 'the download is the stored file');
      assert.equal(await page.getByTestId(`download-bundle-${VECTOR}`).getAttribute('href'), `/v1/vectors/${VECTOR}/bundle?library=shared`);
      // The bundle link downloads a bundle whose vector is the stored file, byte for byte.
      const [bundleDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId(`download-bundle-${VECTOR}`).click()]);
      const bundle = readBundle(fs.readFileSync((await bundleDownload.path())!), 'the downloaded bundle');
      const member = bundle.members.find((m) => m.path.endsWith('.safetensors'));
      assert.ok(member && Buffer.from(member.bytes).equals(got), 'the bundle holds the stored vector');
      await shot(page, 'studio-library.png');
    }

    // ---- Ratings tune strength (issue 20, part 5): people's preferred strength beside the automatic one, adopted, kept, undone. ----
    {
      // 40 blind ratings of a vector at five strengths by a simulated person who likes ×3 (test/helpers/simulated-rater.ts).
      const RATED = 'rated-dir';
      await server.api('POST', '/v1/vectors', { name: RATED, directions: { [LAYER]: unitDirection(99) }, recommended: { layers: [LAYER], coefficient: 6 } });
      const likes3 = peaked(3, 0.3);
      for (const r of simulatedRatings({ vector: RATED, grid: [0, 1.5, 3, 4.5, 6], ratings: 40, seed: 21, concept: likes3, coherence: likes3, layer: LAYER })) {
        await server.api('POST', '/v1/ratings', r);
      }
      const pref = await server.api<{ preferred: number; adoptable: number; interval: [number, number] }>('GET', `/v1/vectors/${RATED}/preference`);
      const short = (x: number, digits = 4): string => String(Number(x.toPrecision(digits)));
      const interval = `95% interval ${short(pref.interval[0], 3)} to ${short(pref.interval[1], 3)}`;
      await page.goto(`${server.base}/studio/#/vectors/${RATED}`);
      const preferred = page.getByTestId('preference-preferred');
      await preferred.waitFor();
      assert.equal(await preferred.textContent(), `×${short(pref.preferred)} (${interval}; n = 40 ratings)`);
      assert.equal(await page.getByTestId('preference-automatic').textContent(), '×6 (vector file)');
      // Adopting records the preferred strength to a tenth of its interval (the button says which).
      const recommended = page.getByTestId('vector-recommended');
      const adopt = page.getByTestId('adopt-preference');
      assert.equal(await adopt.textContent(), `Adopt ×${short(pref.adoptable)} as the recommended strength`);
      await adopt.click();
      const provenance = page.getByTestId('recommendation-provenance');
      await provenance.waitFor();
      assert.match((await recommended.textContent()) ?? '', new RegExp(`Coefficient${short(pref.adoptable).replace('.', '\\.')}(?!\\d)`));
      assert.ok(((await provenance.textContent()) ?? '').startsWith(`Recommended ×${short(pref.adoptable)} from human ratings (40 ratings, overall, ${interval}), adopted `));
      assert.match((await provenance.textContent()) ?? '', /it replaced ×6\./);
      await shot(page, 'studio-preference.png');
      // Kept by the vector itself: after a reload it is still there; undo restores ×6.
      await page.reload();
      await provenance.waitFor();
      assert.equal(await page.getByTestId('preference-recommended').textContent(), `×${short(pref.adoptable)} (human ratings)`);
      await page.getByTestId('undo-adoption').click();
      await provenance.waitFor({ state: 'detached' });
      assert.match((await recommended.textContent()) ?? '', /Coefficient6(?!\d)/);
      const stored = await server.api<{ recommended?: { coefficient?: number }; adoptions?: unknown[] }>('GET', `/v1/vectors/${RATED}`);
      assert.deepEqual([stored.recommended?.coefficient, stored.adoptions], [6, undefined]);
    }

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

test('studio: a model with a chat template keeps chatting by default', { timeout: 60_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} not found`);
    return;
  }
  // A tiny random Llama with a chat template: its replies are noise, but the studio must send
  // each prompt after the conversation so far.
  const model = writeRandomHfModel('llama', { seed: 3 });
  fs.writeFileSync(path.join(model.dir, 'chat_template.jinja'), '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:');
  const srv = await startServer({ modelPath: model.dir, threads: 1 });
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(15_000);
    await page.goto(`${srv.url}/studio/`);
    await page.getByTestId('context-hint').filter({ hasText: 'Chat model' }).waitFor();
    assert.equal(await page.getByTestId('context-continue').getAttribute('aria-checked'), 'true', 'a chat model continues by default');
    await page.getByTestId('max-tokens').fill('6');
    const first = await sendCapturing(page, 1, 'Hello');
    assert.deepEqual(first.messages, [{ role: 'user', content: 'Hello' }]);
    const [reply] = await waitReplies(first.turn, ['reply-single']);
    assert.ok(reply !== '', 'the random model wrote something');
    const second = await sendCapturing(page, 2, 'And then?');
    assert.deepEqual(second.messages, [
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: reply },
      { role: 'user', content: 'And then?' },
    ]);
    await waitReplies(second.turn, ['reply-single']);
  } finally {
    await browser?.close();
    await srv.close();
    fs.rmSync(model.dir, { recursive: true, force: true });
  }
});
