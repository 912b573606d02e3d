import { describe, expect, it } from 'vitest';
import { DEFAULT_PART_BYTES, MAX_PARTS, MIN_PART_BYTES, partSizeFor } from '#pilot/s3-storage.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('partSizeFor', () => {
  it.each([
    {
      what: 'a 100 MiB file: the default part size',
      file: 100 * MiB,
      wanted: undefined,
      part: DEFAULT_PART_BYTES,
    },
    {
      what: 'a wanted size under S3’s minimum: the minimum',
      file: 20 * MiB,
      wanted: MiB,
      part: MIN_PART_BYTES,
    },
    { what: 'a wanted 5 MiB for a small file', file: 12 * MiB, wanted: 5 * MiB, part: 5 * MiB },
    {
      what: 'a 1 TiB file: raised to fit 10,000 parts',
      file: 1024 * GiB,
      wanted: undefined,
      part: Math.ceil((1024 * GiB) / MAX_PARTS),
    },
  ])('$what', ({ file, wanted, part }) => {
    const size = partSizeFor(file, wanted);
    expect(size).toBe(part);
    expect(Math.ceil(file / size)).toBeLessThanOrEqual(MAX_PARTS);
  });
});
