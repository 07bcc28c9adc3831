import { describe, expect, it } from 'vitest';
import { SseParser } from '../../src/sse.js';

type Ev = [string, string | undefined];

function parse(pieces: Array<string | Buffer>, opts: { end?: boolean } = {}): { events: Ev[]; comments: number; dropped: boolean } {
  const events: Ev[] = [];
  const p = new SseParser((data, name) => events.push([data, name]));
  for (const piece of pieces) p.push(typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece);
  const dropped = opts.end === false ? false : p.end();
  return { events, comments: p.comments, dropped };
}

/** Every way to cut `bytes` in two, plus byte by byte. */
function splits(bytes: Buffer): Buffer[][] {
  const out: Buffer[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  out.push([...bytes].map((b) => Buffer.from([b])));
  return out;
}

const CORPUS = [
  ': keep-alive\n\n',
  'event: message_start\ndata: {"a":1}\n\n',
  'data: {"t":"日本語 👍🏽 👨‍👩‍👧 é"}\r\n\r\n',
  'data:no-space\n\n',
  'data: line one\ndata: line two\n\n',
  'id: 7\nretry: 100\ndata: after-fields\n\n',
  'data\n\n',
  'data: [DONE]\n\n',
].join('');
const EXPECTED: Ev[] = [
  ['{"a":1}', 'message_start'],
  ['{"t":"日本語 👍🏽 👨‍👩‍👧 é"}', undefined],
  ['no-space', undefined],
  ['line one\nline two', undefined],
  ['after-fields', undefined],
  ['', undefined],
  ['[DONE]', undefined],
];

describe('SseParser', () => {
  it('parses LF framing, event names, comments, multi-line data and field variants', () => {
    const r = parse([CORPUS]);
    expect(r.events).toEqual(EXPECTED);
    expect(r.comments).toBe(1);
  });

  it('gives the same events at every split position and byte by byte (multi-byte UTF-8 included)', () => {
    const bytes = Buffer.from(CORPUS, 'utf8');
    for (const pieces of splits(bytes)) expect(parse(pieces).events).toEqual(EXPECTED);
  });

  it('accepts CRLF, lone CR and mixed line ends, also with CR and LF in different chunks', () => {
    for (const eol of ['\r\n', '\r']) {
      const text = CORPUS.replace(/\r\n/g, '\n').replace(/\n/g, eol);
      for (const pieces of splits(Buffer.from(text, 'utf8'))) expect(parse(pieces).events).toEqual(EXPECTED);
    }
  });

  it('strips a UTF-8 byte-order mark at the start only, even split', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const body = Buffer.concat([bom, Buffer.from('data: x\n\ndata: \ufeffy\n\n')]);
    for (const pieces of splits(body)) expect(parse(pieces).events).toEqual([['x', undefined], ['\ufeffy', undefined]]);
  });

  it('dispatches a last event whose lines are complete but lack the blank line, and drops a half-written line', () => {
    expect(parse(['data: a\n\ndata: b\n'])).toMatchObject({ events: [['a', undefined], ['b', undefined]], dropped: false });
    expect(parse(['data: a\n\ndata: {"cut'])).toMatchObject({ events: [['a', undefined]], dropped: true });
  });

  it('resets the event name after each event', () => {
    expect(parse(['event: ping\ndata: 1\n\ndata: 2\n\n']).events).toEqual([['1', 'ping'], ['2', undefined]]);
  });

  it('ignores an event with only a name and no data', () => {
    expect(parse(['event: ping\n\ndata: 1\n\n']).events).toEqual([['1', undefined]]);
  });
});
