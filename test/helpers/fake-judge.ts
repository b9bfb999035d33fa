import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeJudgeOptions {
  /**
   * Prompts (the whole judge prompt: question and text) this judge answers like a model that
   * cannot judge: a story with no "Rating: N" line.
   */
  readonly mumble?: RegExp;
}

/**
 * A stand-in judge: an OpenAI-compatible chat endpoint with known behaviour. A text "involves
 * the concept" (2, else 0) iff it holds `word`; it is fluent (2) iff it has more than three
 * words, else 1; every other question gets 1.
 */
export function fakeJudge(word = 'sad', opts: FakeJudgeOptions = {}): Promise<{ url: string; close: () => Promise<void> }> {
  const concept = new RegExp(`\\b${word}\\b`, 'i');
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const prompt = (JSON.parse(body) as { messages: { content: string }[] }).messages[0].content;
      const text = prompt.split('"""').at(-2) ?? '';
      let rating = 1;
      if (prompt.includes('whether it involves the concept')) rating = concept.test(text) ? 2 : 0;
      else if (prompt.includes('language quality')) rating = text.trim().split(/\s+/).length > 3 ? 2 : 1;
      const content = opts.mumble?.test(prompt) ? 'Once upon a time, there was a little dog who liked to run.' : `Reasoning.\nRating: ${rating}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] }));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/v1`, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}
