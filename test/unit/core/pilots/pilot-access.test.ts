import { describe, expect, it } from 'vitest';
import { ForbiddenError } from '#core/errors.ts';
import { assertSiteAllowed, pilotSiteOf } from '#core/pilots/pilot-access.ts';
import { alice, pilotToken } from '../scenario.ts';

describe('pilotSiteOf', () => {
  it('reads the site of a pilot token', () => {
    expect(pilotSiteOf(pilotToken('cern'))).toBe('cern');
  });

  it('names no site for a token of any site, or a user token', () => {
    expect(pilotSiteOf(pilotToken('*'))).toBeUndefined();
    expect(pilotSiteOf(alice)).toBeUndefined();
  });
});

describe('assertSiteAllowed', () => {
  it('lets a pilot token act for its own site, and a token of any site for every site', () => {
    expect(() => assertSiteAllowed(pilotToken('cern'), 'cern')).not.toThrow();
    expect(() => assertSiteAllowed(pilotToken('*'), 'bnl')).not.toThrow();
  });

  it('throws ForbiddenError when a pilot token acts for another site', () => {
    expect(() => assertSiteAllowed(pilotToken('cern'), 'bnl')).toThrow(
      new ForbiddenError('this pilot token is for site cern, not bnl'),
    );
  });
});
