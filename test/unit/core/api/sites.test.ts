import { describe, expect, it } from 'vitest';
import { PutSiteRequestSchema } from '#core/api/sites.ts';

describe('PutSiteRequestSchema', () => {
  it('takes a site definition without its id (the path names it), with defaults filled', () => {
    expect(PutSiteRequestSchema.parse({ maxPilots: 5 })).toMatchObject({
      status: 'online',
      kind: 'local',
      maxPilots: 5,
    });
  });

  it('refuses an unknown field and a bad slot', () => {
    const result = PutSiteRequestSchema.safeParse({ pilots: 3, slot: { cores: 0 } });
    expect(result.error?.issues.map((i) => i.path.join('.')).sort()).toEqual(['', 'slot.cores']);
  });
});
