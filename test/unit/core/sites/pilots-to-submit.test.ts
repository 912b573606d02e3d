import { describe, expect, it } from 'vitest';
import { pilotsToSubmit, type SubmitInputs } from '#core/sites/pilots-to-submit.ts';

const base: SubmitInputs = { pilotsWanted: 0, pending: 0, running: 0, maxPending: 10, maxPilots: 100 };

describe('pilotsToSubmit', () => {
  it('submits what the site wants when nothing waits and the caps are far', () => {
    expect(pilotsToSubmit({ ...base, pilotsWanted: 4 })).toBe(4);
  });

  it('counts pilots already pending against the demand', () => {
    expect(pilotsToSubmit({ ...base, pilotsWanted: 4, pending: 3 })).toBe(1);
    expect(pilotsToSubmit({ ...base, pilotsWanted: 4, pending: 4 })).toBe(0);
  });

  it('counts started pilots that have not registered yet against the demand', () => {
    expect(pilotsToSubmit({ ...base, pilotsWanted: 5, running: 3, unregistered: 3 })).toBe(2);
    expect(pilotsToSubmit({ ...base, pilotsWanted: 5, pending: 1, running: 3, unregistered: 4 })).toBe(0);
  });

  it('never lets the pending pilots pass --max-pending', () => {
    expect(pilotsToSubmit({ ...base, pilotsWanted: 500, maxPending: 10 })).toBe(10);
    expect(pilotsToSubmit({ ...base, pilotsWanted: 500, pending: 7, maxPending: 10 })).toBe(3);
    expect(pilotsToSubmit({ ...base, pilotsWanted: 500, pending: 10, maxPending: 10 })).toBe(0);
  });

  it('never lets pending plus running pass maxPilots', () => {
    expect(pilotsToSubmit({ ...base, pilotsWanted: 50, running: 98, maxPilots: 100 })).toBe(2);
    expect(pilotsToSubmit({ ...base, pilotsWanted: 50, pending: 1, running: 99, maxPilots: 100 })).toBe(0);
  });

  it('is never negative, even past every cap', () => {
    expect(
      pilotsToSubmit({ pilotsWanted: 0, pending: 30, running: 200, maxPending: 10, maxPilots: 100 }),
    ).toBe(0);
    expect(pilotsToSubmit({ ...base, pilotsWanted: 5, maxPending: 0 })).toBe(0);
    expect(pilotsToSubmit({ ...base, pilotsWanted: 5, maxPilots: 0 })).toBe(0);
  });

  it('refuses a count that is not a number rather than flooding', () => {
    expect(() => pilotsToSubmit({ ...base, pilotsWanted: Number.NaN })).toThrow(/pilotsWanted/);
  });

  it('over any run of cycles where nothing starts, keeps pending at or under the cap', () => {
    let pending = 0;
    for (let cycle = 0; cycle < 50; cycle++) {
      pending += pilotsToSubmit({ pilotsWanted: 1000, pending, running: 0, maxPending: 7, maxPilots: 1000 });
      expect(pending).toBeLessThanOrEqual(7);
    }
    expect(pending).toBe(7);
  });
});
