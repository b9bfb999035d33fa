import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidInputError } from '../src/io/errors.js';
import { safeStreamPrefix, StopMatcher, StopSet } from '../src/runtime/stop.js';

/** Streams `chunks` (cumulatively) through a matcher; returns every emit and the final state. */
function stream(stops: string[], chunks: string[]): { emits: string[]; stopped: boolean; flushed: string } {
  const m = new StopMatcher(stops);
  const emits: string[] = [];
  let text = '';
  let stopped = false;
  for (const c of chunks) {
    text += c;
    const r = m.push(text);
    emits.push(r.emit);
    if (r.stopped) {
      stopped = true;
      break;
    }
  }
  return { emits, stopped, flushed: m.flush() };
}

describe('safeStreamPrefix', () => {
  it('holds back trailing U+FFFD and a lone high surrogate', () => {
    assert.equal(safeStreamPrefix('caf\uFFFD'), 'caf');
    assert.equal(safeStreamPrefix('a\uFFFD\uFFFD'), 'a');
    assert.equal(safeStreamPrefix('a\uFFFDb'), 'a\uFFFDb');
    assert.equal(safeStreamPrefix('x\uD83D'), 'x');
    assert.equal(safeStreamPrefix('x\uD83D\uDE00'), 'x\uD83D\uDE00');
    assert.equal(safeStreamPrefix(''), '');
  });
});

describe('StopMatcher', () => {
  it('finds a stop string split across pushes and never shows any of it', () => {
    const m = new StopMatcher(['</s>']);
    assert.deepEqual(m.push('Hello <'), { stopped: false, emit: 'Hello ' });
    assert.deepEqual(m.push('Hello </'), { stopped: false, emit: '' });
    assert.deepEqual(m.push('Hello </s'), { stopped: false, emit: '' });
    assert.deepEqual(m.push('Hello </s> more'), { stopped: true, emit: '', stopString: '</s>' });
    assert.equal(m.stopped, true);
    assert.deepEqual(m.push('Hello </s> more and more'), { stopped: true, emit: '' });
    assert.equal(m.flush(), '');
  });

  it('releases a held partial match once it cannot be a stop string', () => {
    const m = new StopMatcher(['abc']);
    assert.deepEqual(m.push('xab'), { stopped: false, emit: 'x' });
    assert.deepEqual(m.push('xabd'), { stopped: false, emit: 'abd' });
    // A new partial match after released text.
    assert.deepEqual(m.push('xabda'), { stopped: false, emit: '' });
    assert.equal(m.flush(), 'a');
  });

  it('holds back only the tail that could still complete the stop', () => {
    const m = new StopMatcher(['aab']);
    assert.deepEqual(m.push('xaa'), { stopped: false, emit: 'x' });
    // "aaa": the tail "aa" could still become "aab"; the first "a" is safe.
    assert.deepEqual(m.push('xaaa'), { stopped: false, emit: 'a' });
    assert.deepEqual(m.push('xaaab'), { stopped: true, emit: '', stopString: 'aab' });
  });

  it('with several stop strings, the earliest occurrence wins', () => {
    const r = stream(['\n\n', 'END'], ['foo E', 'ND bar\n\n']);
    assert.equal(r.stopped, true);
    assert.equal(r.emits.join(''), 'foo ');
    // Overlapping candidates: "b" occurs at 2, "ab" at 1 → cut at 1.
    const m = new StopMatcher(['b', 'ab']);
    assert.deepEqual(m.push('xab'), { stopped: true, emit: 'x', stopString: 'ab' });
  });

  it('holds back text that could start any of the stop strings', () => {
    const m = new StopMatcher(['User:', '###']);
    assert.deepEqual(m.push('ok #'), { stopped: false, emit: 'ok ' });
    assert.deepEqual(m.push('ok #U'), { stopped: false, emit: '#' });
    assert.deepEqual(m.push('ok #Us'), { stopped: false, emit: '' });
    assert.deepEqual(m.push('ok #Use'), { stopped: false, emit: '' });
    assert.deepEqual(m.push('ok #User:'), { stopped: true, emit: '', stopString: 'User:' });
  });

  it('concatenated emits equal the text before the stop, for any chunking', () => {
    const full = 'The answer is 42.</answer> trailing junk';
    const before = 'The answer is 42.';
    const stops = ['</answer>', '\n\nUser'];
    const chunkings: string[][] = [
      [full],
      [...full],
      ['The ans', 'wer is 4', '2.</an', 'swer', '> trailing', ' junk'],
      ['The answer is 42.<', '/', 'answer>'],
    ];
    for (const chunks of chunkings) {
      const r = stream(stops, chunks);
      assert.equal(r.stopped, true);
      assert.equal(r.emits.join('') + r.flushed, before);
    }
  });

  it('without a stop, emits + flush reproduce the whole text', () => {
    const full = 'almost </answ';
    const r = stream(['</answer>'], [...full]);
    assert.equal(r.stopped, false);
    assert.equal(r.flushed, '</answ');
    assert.equal(r.emits.join('') + r.flushed, full);
  });

  it('holds an incomplete UTF-8 character until it is complete', () => {
    const m = new StopMatcher([]);
    assert.deepEqual(m.push('caf'), { stopped: false, emit: 'caf' });
    assert.deepEqual(m.push('caf\uFFFD'), { stopped: false, emit: '' });
    assert.deepEqual(m.push('café!'), { stopped: false, emit: 'é!' });
    assert.deepEqual(m.push('café!\uFFFD'), { stopped: false, emit: '' });
    assert.equal(m.flush(), '\uFFFD'); // at the end a dangling byte is final
  });

  it('a stop right after an incomplete character emits it as final', () => {
    const m = new StopMatcher(['.']);
    assert.deepEqual(m.push('a\uFFFD'), { stopped: false, emit: 'a' });
    assert.deepEqual(m.push('a\uFFFD.'), { stopped: true, emit: '\uFFFD', stopString: '.' });
  });

  it('rejects empty stop strings', () => {
    assert.throws(() => new StopMatcher(['ok', '']), InvalidInputError);
  });

  it('a special-token marker spelled over several tokens never streams any part of itself', () => {
    // TinyStories' model ends a story with "<|", "end", "_story", "|>" before its EOS id.
    const stops = new StopSet([], ['<unk>', '<|start_story|>', '<|end_story|>']);
    const m = new StopMatcher(stops);
    const emits: string[] = [];
    let text = '';
    let last = { stopped: false, emit: '' } as ReturnType<StopMatcher['push']>;
    for (const piece of ['Once upon a', ' time, Tom was happy.', '<|', 'end', '_story', '|>', 'Once']) {
      text += piece;
      last = m.push(text);
      emits.push(last.emit);
      if (last.stopped) break;
    }
    assert.deepEqual(emits, ['Once upon a', ' time, Tom was happy.', '', '', '', '']);
    assert.equal(last.stopped, true);
    assert.equal(last.stopString, '<|end_story|>');
    assert.equal(m.flush(), '');
    // A near miss is released as soon as it stops being a prefix of a marker.
    const near = new StopMatcher(stops);
    assert.deepEqual(near.push('a <|'), { stopped: false, emit: 'a ' });
    assert.deepEqual(near.push('a <|end_st'), { stopped: false, emit: '' });
    assert.deepEqual(near.push('a <|end_sto!'), { stopped: false, emit: '<|end_sto!' });
  });

  it('a marker cut off by the end of generation is dropped; a plain stop string\'s prefix is kept', () => {
    const stops = new StopSet(['User:'], ['<|end_story|>']);
    const cut = new StopMatcher(stops);
    assert.deepEqual(cut.push('The end.<|end'), { stopped: false, emit: 'The end.' });
    assert.equal(cut.flush(), '');
    const plain = new StopMatcher(stops);
    assert.deepEqual(plain.push('Ask the Us'), { stopped: false, emit: 'Ask the ' });
    assert.equal(plain.flush(), 'Us');
    // Markers stop like stop strings; on the same start the stop string (listed first) wins.
    const m = new StopMatcher(new StopSet(['<|e'], ['<|end_story|>']));
    assert.deepEqual(m.push('a<|end_story|>'), { stopped: true, emit: 'a', stopString: '<|e' });
  });

  it('one StopSet serves many matchers, and thousands of markers sharing a prefix', () => {
    const markers = Array.from({ length: 3000 }, (_, i) => `<unused${i}>`);
    const stops = new StopSet([...markers, '<|end|>', '<unused7>']);
    assert.equal(stops.size, 3001);
    assert.equal(stops.maxLength, '<unused2999>'.length);
    const a = new StopMatcher(stops);
    const b = new StopMatcher(stops);
    assert.deepEqual(a.push('x <unused12'), { stopped: false, emit: 'x ' });
    assert.deepEqual(b.push('y <unused1 z'), { stopped: false, emit: 'y <unused1 z' });
    assert.deepEqual(a.push('x <unused12> rest'), { stopped: true, emit: '', stopString: '<unused12>' });
    // Same start: the first listed wins; otherwise the earliest.
    assert.deepEqual(new StopMatcher(['abc', 'ab']).push('xabc'), { stopped: true, emit: 'x', stopString: 'abc' });
    assert.deepEqual(new StopMatcher(['ab', 'abc']).push('xabc'), { stopped: true, emit: 'x', stopString: 'ab' });
  });
});
