import { describe, expect, it } from 'vitest';
import { classesFitting, needsFit, resourceClassOf } from '#core/jobs/resource-class.ts';

describe('resourceClassOf', () => {
  it.each([
    [{ cores: 1, memoryMB: 16 }, 'score'],
    [{ cores: 1, memoryMB: 2000 }, 'score'],
    [{ cores: 1, memoryMB: 2001 }, 'himem'],
    [{ cores: 2, memoryMB: 4000 }, 'mcore'],
    [{ cores: 2, memoryMB: 4001 }, 'himem'],
    [{ cores: 8, memoryMB: 16_000 }, 'mcore'],
    [{ cores: 1, memoryMB: 1000, gpus: 0 }, 'score'],
    [{ cores: 1, memoryMB: 1000, gpus: 1 }, 'gpu'],
    [{ cores: 8, memoryMB: 64_000, gpus: 2 }, 'gpu'],
  ] as const)('a job needing %o is %s', (needs, expected) => {
    expect(resourceClassOf(needs)).toBe(expected);
  });
});

describe('classesFitting', () => {
  it.each([
    [{ cores: 1, memoryMB: 2000 }, ['score']],
    [{ cores: 1, memoryMB: 4000 }, ['himem', 'score']],
    [{ cores: 8, memoryMB: 16_000 }, ['himem', 'mcore', 'score']],
    [{ cores: 2, memoryMB: 2000 }, ['mcore', 'score']],
    [{ cores: 4, memoryMB: 1500, gpus: 1 }, ['gpu', 'mcore', 'score']],
    [{ cores: 0, memoryMB: 4000 }, []],
  ] as const)('an offer of %o can run %o, largest first', (offer, expected) => {
    expect(classesFitting(offer)).toEqual(expected);
  });

  it('offers every class whose jobs it can fit: a job of a class not offered never fits', () => {
    const offers = [
      { cores: 1, memoryMB: 2000 },
      { cores: 1, memoryMB: 6000 },
      { cores: 4, memoryMB: 4000 },
      { cores: 4, memoryMB: 8000, gpus: 1 },
    ];
    const jobs = [
      { cores: 1, memoryMB: 1000 },
      { cores: 1, memoryMB: 5000 },
      { cores: 2, memoryMB: 3000 },
      { cores: 4, memoryMB: 4000 },
      { cores: 1, memoryMB: 2000, gpus: 1 },
    ];
    for (const offer of offers) {
      for (const job of jobs) {
        if (needsFit(job, offer)) expect(classesFitting(offer)).toContain(resourceClassOf(job));
      }
    }
  });
});

describe('needsFit', () => {
  it.each([
    [{ cores: 1, memoryMB: 2000 }, { cores: 1, memoryMB: 2000 }, true],
    [{ cores: 2, memoryMB: 2000 }, { cores: 1, memoryMB: 8000 }, false],
    [{ cores: 1, memoryMB: 2001 }, { cores: 8, memoryMB: 2000 }, false],
    [{ cores: 1, memoryMB: 100, gpus: 1 }, { cores: 8, memoryMB: 8000 }, false],
    [{ cores: 1, memoryMB: 100, gpus: 1 }, { cores: 8, memoryMB: 8000, gpus: 1 }, true],
  ] as const)('%o in %o: %s', (needs, offer, expected) => {
    expect(needsFit(needs, offer)).toBe(expected);
  });
});
