import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { steererIn } from './helpers/cli.js';

/** Long work run with its output piped (a log file, CI) still says how far it is. */
describe('progress when stderr is not a terminal', () => {
  const steerer = steererIn(packageRoot());
  const args = ['perplexity', '-m', sharedPath('models', 'tinystories-656k'), '-f', sharedPath('data', 'text', 'wikitext-2', 'test.txt'), '--max-chars', '4000', '--window', '128'];

  test('plain progress lines, ending at 100 %', () => {
    const r = steerer(...args);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('scoring: '));
    assert.ok(lines.length >= 1, `no progress line in ${JSON.stringify(r.stderr)}`);
    const last = /^scoring: 100% \| (\d+)\/(\d+) \| \d+s$/.exec(lines[lines.length - 1]);
    assert.ok(last && last[1] === last[2], `the last line is the finished count: ${lines[lines.length - 1]}`);
    assert.doesNotMatch(r.stderr, /\u001b\[/, 'no terminal control codes in a log');
    assert.match(r.stdout, /^perplexity \d/);
  });

  test('--json keeps stderr free of progress', () => {
    const r = steerer(...args, '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /scoring/);
  });
});
