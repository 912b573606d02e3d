import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import {
  formatJobSelection,
  MAX_CHOSEN_JOBS,
  parseJobSelection,
  selectedIndexes,
  selectionSize,
} from '#core/tasks/job-selection.ts';

describe('parseJobSelection', () => {
  it.each([
    ['3', [[3, 3]], '3'],
    [
      '3,7-9',
      [
        [3, 3],
        [7, 9],
      ],
      '3,7-9',
    ],
    [
      '7-9,3',
      [
        [3, 3],
        [7, 9],
      ],
      '3,7-9',
    ],
    ['7-9,8', [[7, 9]], '7-9'],
    ['1,2,3', [[1, 3]], '1-3'],
    ['0-2,3-4', [[0, 4]], '0-4'],
    [
      ' 3, 7 - 9 ',
      [
        [3, 3],
        [7, 9],
      ],
      '3,7-9',
    ],
    ['5-5', [[5, 5]], '5'],
    ['09', [[9, 9]], '9'],
  ])('reads %j as %j (shown %s)', (text, ranges, shown) => {
    const parsed = parseJobSelection(text, 10);
    expect(parsed).toEqual(ranges);
    expect(formatJobSelection(parsed)).toBe(shown);
  });

  it.each([
    ['', 'e.g. 3,7-9'],
    ['a', 'e.g. 3,7-9'],
    ['3,', 'e.g. 3,7-9'],
    ['-3', 'e.g. 3,7-9'],
    ['1-2-3', 'e.g. 3,7-9'],
    ['9-7', '9-7 runs backwards'],
    ['10', 'job 10 does not exist: the task has 10 jobs (0-9)'],
    ['8-12', 'job 12 does not exist'],
    ['99999999999999999999', 'too large'],
  ])('refuses %j, naming jobs (%s)', (text, message) => {
    const error = (() => {
      try {
        parseJobSelection(text, 10);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { field: 'jobs', message: expect.stringContaining(message) },
    ]);
  });

  it(`takes at most ${MAX_CHOSEN_JOBS} jobs by index`, () => {
    expect(selectionSize(parseJobSelection(`0-${MAX_CHOSEN_JOBS - 1}`, 1_000_000))).toBe(MAX_CHOSEN_JOBS);
    expect(() => parseJobSelection(`0-${MAX_CHOSEN_JOBS}`, 1_000_000)).toThrow(/at most 5000 by index/);
  });

  it('lists every index of a selection in order', () => {
    expect([...selectedIndexes(parseJobSelection('7-9,3', 10))]).toEqual([3, 7, 8, 9]);
  });
});
