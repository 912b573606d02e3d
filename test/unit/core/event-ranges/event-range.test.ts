import { describe, expect, it } from 'vitest';
import {
  type MessageRange,
  messageRange,
  parseRangeMessage,
  type RangeMessage,
  type RangeParameters,
  rangeAt,
  rangeCount,
  rangeMessages,
  rangeOfMessage,
  taskEvents,
} from '#core/event-ranges/event-range.ts';
import { parseTaskSpec, type TaskSpecInput } from '#core/tasks/task-spec.ts';
import { issuesOf } from '../validation-issues.ts';

const TASK_ID = 't-0123456789';

function spec(fields: Partial<TaskSpecInput>) {
  return parseTaskSpec({ name: 'es-test', payload: { command: 'run' }, outputs: ['out.root'], ...fields });
}

function files(...events: number[]) {
  return { files: events.map((n, i) => ({ name: `f${i}.root`, events: n })) };
}

/** Every range of a task, from rangeAt. */
function allRanges(s: ReturnType<typeof spec>): RangeParameters[] {
  return Array.from({ length: rangeCount(s) }, (_, i) => rangeAt(s, i));
}

describe('splitting generated events into ranges', () => {
  const gen = spec({ events: 1050, eventService: { rangeSize: 100 } });

  it('counts one range per rangeSize events, rounding up, and the events of the task', () => {
    expect(rangeCount(gen)).toBe(11);
    expect(rangeCount(spec({ events: 1000, eventService: { rangeSize: 100 } }))).toBe(10);
    expect(rangeCount(spec({ events: 1, eventService: { rangeSize: 1 } }))).toBe(1);
    expect(taskEvents(gen)).toBe(1050);
  });

  it('gives each range its first event and number of events, the last one short, no file', () => {
    expect(rangeAt(gen, 0)).toEqual({ rangeIndex: 0, firstEvent: 0, nEvents: 100 });
    expect(rangeAt(gen, 4)).toEqual({ rangeIndex: 4, firstEvent: 400, nEvents: 100 });
    expect(rangeAt(gen, 10)).toEqual({ rangeIndex: 10, firstEvent: 1000, nEvents: 50 });
  });

  it('covers every event exactly once', () => {
    let next = 0;
    for (const range of allRanges(gen)) {
      expect(range.firstEvent).toBe(next);
      next += range.nEvents;
    }
    expect(next).toBe(1050);
  });

  it('finds any range of a ten-million-range task from its index alone', () => {
    const big = spec({ events: 19_999_999, eventService: { rangeSize: 2 } });
    expect(rangeCount(big)).toBe(10_000_000);
    expect(rangeAt(big, 9_999_999)).toEqual({ rangeIndex: 9_999_999, firstEvent: 19_999_998, nEvents: 1 });
  });
});

describe('splitting input files into ranges', () => {
  const proc = spec({ inputs: files(250, 100, 30), eventService: { rangeSize: 100 } });

  it('cuts each file apart, so that no range spans two files', () => {
    expect(rangeCount(proc)).toBe(5);
    expect(taskEvents(proc)).toBe(380);
    expect(allRanges(proc)).toEqual([
      { rangeIndex: 0, firstEvent: 0, nEvents: 100, file: 'f0.root' },
      { rangeIndex: 1, firstEvent: 100, nEvents: 100, file: 'f0.root' },
      { rangeIndex: 2, firstEvent: 200, nEvents: 50, file: 'f0.root' },
      { rangeIndex: 3, firstEvent: 0, nEvents: 100, file: 'f1.root' },
      { rangeIndex: 4, firstEvent: 0, nEvents: 30, file: 'f2.root' },
    ]);
  });

  it('finds the file of a range among many by its index alone, as a walk through the files does', () => {
    const events = Array.from({ length: 997 }, (_, i) => ((i * 37) % 113) + 1);
    const many = spec({ inputs: files(...events), eventService: { rangeSize: 25 } });
    const walked: RangeParameters[] = [];
    events.forEach((n, f) => {
      for (let first = 0; first < n; first += 25) {
        walked.push({
          rangeIndex: walked.length,
          firstEvent: first,
          nEvents: Math.min(25, n - first),
          file: `f${f}.root`,
        });
      }
    });
    expect(rangeCount(many)).toBe(walked.length);
    expect(allRanges(many)).toEqual(walked);
  });

  it('gives the first and the last range of a file of exactly rangeSize events whole', () => {
    const exact = spec({ inputs: files(10, 10), eventService: { rangeSize: 10 } });
    expect(allRanges(exact)).toEqual([
      { rangeIndex: 0, firstEvent: 0, nEvents: 10, file: 'f0.root' },
      { rangeIndex: 1, firstEvent: 0, nEvents: 10, file: 'f1.root' },
    ]);
  });
});

describe('range indexes out of range', () => {
  it('throws a RangeError for an index outside the task, or not an integer', () => {
    const gen = spec({ events: 100, eventService: { rangeSize: 10 } });
    const proc = spec({ inputs: files(15, 5), eventService: { rangeSize: 10 } });
    for (const [s, total] of [
      [gen, 10],
      [proc, 3],
    ] as const) {
      for (const index of [-1, total, total + 100, 1.5, Number.NaN]) {
        expect(() => rangeAt(s, index), String(index)).toThrow(RangeError);
      }
    }
  });

  it('throws a RangeError for a task without event service', () => {
    const plain = spec({ events: 100, split: { eventsPerJob: 10 } });
    expect(() => rangeCount(plain)).toThrow(RangeError);
    expect(() => rangeAt(plain, 0)).toThrow(RangeError);
  });
});

describe('range messages', () => {
  it('carries a range as index, attempt, first event, number of events and file, and back', () => {
    const inFile: RangeParameters = { rangeIndex: 7, firstEvent: 200, nEvents: 50, file: 'f0.root' };
    expect(messageRange(inFile, 2)).toEqual({ i: 7, a: 2, first: 200, n: 50, file: 'f0.root' });
    expect(rangeOfMessage(messageRange(inFile, 2))).toEqual({ ...inFile, attempt: 2 });

    const generated: RangeParameters = { rangeIndex: 3, firstEvent: 300, nEvents: 100 };
    expect(messageRange(generated, 1)).toEqual({ i: 3, a: 1, first: 300, n: 100 });
    expect(rangeOfMessage(messageRange(generated, 1))).toEqual({ ...generated, attempt: 1 });
    expect(rangeOfMessage(messageRange(generated, 1))).not.toHaveProperty('file');
  });

  it('puts consecutive ranges into messages of perMessage ranges each, in order', () => {
    const gen = spec({ events: 2500, eventService: { rangeSize: 100 } });
    const ranges = allRanges(gen).map((r, i) => ({ ...r, attempt: i === 4 ? 2 : 1 }));
    const messages = rangeMessages(TASK_ID, ranges, 10);
    expect(messages.map((m) => m.ranges.length)).toEqual([10, 10, 5]);
    expect(messages.every((m) => m.v === 1 && m.taskId === TASK_ID)).toBe(true);
    expect(messages.flatMap((m) => m.ranges).map(rangeOfMessage)).toEqual(ranges);
    expect(rangeMessages(TASK_ID, [], 10)).toEqual([]);
  });

  it('parses a message it built', () => {
    const [message] = rangeMessages(
      TASK_ID,
      [{ rangeIndex: 0, firstEvent: 0, nEvents: 10, file: 'a', attempt: 1 }],
      10,
    );
    expect(parseRangeMessage(JSON.stringify(message))).toEqual(message);
  });

  it('refuses a body that is not JSON, naming the body', () => {
    expect(issuesOf(() => parseRangeMessage('{"v":1,'))).toEqual([{ field: 'body', message: 'not JSON' }]);
  });

  it('refuses a malformed message, naming each bad field', () => {
    const fields = (value: unknown) =>
      issuesOf(() => parseRangeMessage(JSON.stringify(value)))
        .map((i) => i.field)
        .sort();
    const good: RangeMessage = { v: 1, taskId: TASK_ID, ranges: [{ i: 0, a: 1, first: 0, n: 10 }] };
    const range = good.ranges[0] as MessageRange;

    expect(fields({ ...good, v: 2 })).toEqual(['body.v']);
    expect(fields({ ...good, taskId: 'job-1' })).toEqual(['body.taskId']);
    expect(fields({ ...good, ranges: [] })).toEqual(['body.ranges']);
    expect(fields({ ...good, ranges: Array.from({ length: 101 }, () => range) })).toEqual(['body.ranges']);
    expect(fields({ ...good, ranges: [range, { i: -1, a: 0, first: 1.5, n: 0, file: '' }] })).toEqual([
      'body.ranges.1.a',
      'body.ranges.1.file',
      'body.ranges.1.first',
      'body.ranges.1.i',
      'body.ranges.1.n',
    ]);
    expect(fields({ ...good, ranges: [{ ...range, extra: true }] })).toEqual(['body.ranges.0.extra']);
    const { taskId: _t, ...noTask } = good;
    expect(fields(noTask)).toEqual(['body.taskId']);
    expect(fields(null)).toEqual(['body']);
  });
});
