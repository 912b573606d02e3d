import { describe, expect, it } from 'vitest';
import { weightOf, weightsTag } from '#core/provisioning/tags.ts';

describe('the gluon:weights tag', () => {
  it('lists only the weights a site set, as type=weight pairs separated by spaces', () => {
    expect(
      weightsTag([{ type: 'm5.large', weight: 2 }, { type: 'm5.xlarge' }, { type: 'c5.xlarge', weight: 3 }]),
    ).toBe('m5.large=2 c5.xlarge=3');
    expect(weightsTag([{ type: 'm5.large' }])).toBeUndefined();
  });

  it('reads a type’s weight back, and nothing for other types or malformed pairs', () => {
    const tag = 'm5.large=2 c5.xlarge=3 r5.large=0 t3.large=x';
    expect(weightOf(tag, 'm5.large')).toBe(2);
    expect(weightOf(tag, 'c5.xlarge')).toBe(3);
    expect(weightOf(tag, 'm5.xlarge')).toBeUndefined();
    expect(weightOf(tag, 'r5.large')).toBeUndefined();
    expect(weightOf(tag, 't3.large')).toBeUndefined();
    expect(weightOf(undefined, 'm5.large')).toBeUndefined();
  });
});
