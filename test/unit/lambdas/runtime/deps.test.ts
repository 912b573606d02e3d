import { describe, expect, it } from 'vitest';
import { PilotIdSchema } from '#core/api/common.ts';
import { pilotIdOfKey } from '#lambdas/runtime/deps.ts';

describe('pilotIdOfKey', () => {
  const KEY = '0b6f3c1e-5a2d-4e8f-9c71-2d4a6b8e0f13';

  it('gives a registration key the same valid pilot id every time, and another key another id', () => {
    const id = pilotIdOfKey(KEY);
    expect(PilotIdSchema.safeParse(id).success).toBe(true);
    expect(pilotIdOfKey(KEY)).toBe(id);
    expect(pilotIdOfKey('7d1e9a40-3b5c-4f62-8e0a-1c2b3d4e5f60')).not.toBe(id);
  });

  it('does not give the key away: no part of it is in the id', () => {
    const id = pilotIdOfKey(KEY);
    for (const part of KEY.split('-')) expect(id).not.toContain(part);
  });
});
