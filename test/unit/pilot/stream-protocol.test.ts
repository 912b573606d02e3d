import { describe, expect, it } from 'vitest';
import {
  LineSplitter,
  MAX_RESULT_LINE,
  parseResultLine,
  rangeLine,
} from '#pilot/consumer/stream-protocol.ts';

describe('rangeLine', () => {
  it('gives the range with its last event and the output path, one JSON line', () => {
    const line = rangeLine({ rangeIndex: 12, firstEvent: 2400, nEvents: 200 }, '/w/.gluon/out/12.h.json');
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trimEnd()).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      rangeIndex: 12,
      firstEvent: 2400,
      nEvents: 200,
      lastEvent: 2599,
      output: '/w/.gluon/out/12.h.json',
    });
  });

  it('names the input file when the range is in one', () => {
    const line = rangeLine({ rangeIndex: 0, firstEvent: 0, nEvents: 1, file: 'a.root' }, '/o', '/w/a.root');
    expect(JSON.parse(line)).toMatchObject({ file: '/w/a.root', lastEvent: 0 });
  });
});

describe('parseResultLine', () => {
  it('reads a success and a failure with its error', () => {
    expect(parseResultLine('{"rangeIndex":3,"ok":true}')).toEqual({ rangeIndex: 3, ok: true });
    expect(parseResultLine('{"rangeIndex":4,"ok":false,"error":"bad event"}')).toEqual({
      rangeIndex: 4,
      ok: false,
      error: 'bad event',
    });
  });

  it('says why a line is not a result', () => {
    expect(parseResultLine('hello')).toMatchObject({ invalid: expect.stringMatching(/^not JSON/) });
    expect(parseResultLine('{"rangeIndex":-1,"ok":true}')).toHaveProperty('invalid');
    expect(parseResultLine('{"rangeIndex":1}')).toHaveProperty('invalid');
    expect(parseResultLine('{"rangeIndex":1,"ok":"yes"}')).toHaveProperty('invalid');
    expect(
      parseResultLine(`{"rangeIndex":1,"ok":false,"error":"${'x'.repeat(MAX_RESULT_LINE)}"}`),
    ).toHaveProperty('invalid');
  });
});

describe('LineSplitter', () => {
  it('gives whole lines only, across chunks, without blank ones', () => {
    const lines = new LineSplitter();
    expect(lines.push('{"rangeIndex":1,')).toEqual([]);
    expect(lines.push('"ok":true}\n\n{"rangeIndex":2,"ok":true}\n{"range')).toEqual([
      '{"rangeIndex":1,"ok":true}',
      '{"rangeIndex":2,"ok":true}',
    ]);
    expect(lines.push('Index":3,"ok":true}\n')).toEqual(['{"rangeIndex":3,"ok":true}']);
  });

  it('hands on a line that grows past the limit, cut short, so it fails to parse', () => {
    const lines = new LineSplitter();
    const out = lines.push('y'.repeat(MAX_RESULT_LINE + 10));
    expect(out).toHaveLength(1);
    expect(parseResultLine(out[0] as string)).toHaveProperty('invalid');
  });
});
