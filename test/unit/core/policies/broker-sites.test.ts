import { describe, expect, it } from 'vitest';
import { brokerSites, recentFacts } from '#core/policies/broker-sites.ts';
import { bucketOf, emptyOutcomes, type OutcomeKind } from '#core/sites/site-outcomes.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { addSite, BIG_SLOT, generationSpec } from '../scenario.ts';

const AT = '2026-12-01T12:00:00.000Z';

describe('recentFacts', () => {
  it.each([
    [{}, undefined],
    [{ finished: 60 }, { failureRate: 0, attempts: 60, finishedPerMin: 1 }],
    [
      { finished: 3, stageIn: 6, userFailed: 3 },
      { failureRate: 0.75, attempts: 12, finishedPerMin: 0.05 },
    ],
  ])('turns an hour of outcomes %j into %j', (counts, facts) => {
    expect(recentFacts({ ...emptyOutcomes(), ...counts })).toEqual(facts);
  });
});

describe('brokerSites', () => {
  it("avoids a site whose last hour's attempts mostly failed, as site health counted them", async () => {
    const deps = inMemoryDeps();
    await addSite(deps, { siteId: 'failing', slot: BIG_SLOT });
    await addSite(deps, { siteId: 'healthy', slot: BIG_SLOT });
    const kinds: OutcomeKind[] = [...Array(9).fill('stageIn'), ...Array(3).fill('finished')];
    await deps.sites.addOutcomes(
      'failing',
      'feed-1',
      kinds.map((kind, i) => ({ seq: String(i + 1).padStart(4, '0'), at: AT, bucket: bucketOf(AT), kind })),
      { at: AT, keepFrom: bucketOf(new Date(Date.parse(AT) - 3_900_000)) },
    );
    const decision = await brokerSites(deps, generationSpec(2), AT);
    expect(decision.chosen.map((c) => c.siteId)).toEqual(['healthy']);
    expect(decision.rejected).toEqual([
      expect.objectContaining({
        siteId: 'failing',
        filter: 'failures',
        reason: expect.stringContaining('75%'),
      }),
    ]);
    // An hour later those outcomes no longer count.
    const later = await brokerSites(deps, generationSpec(2), '2026-12-01T13:10:00.000Z');
    expect(later.chosen.map((c) => c.siteId).sort()).toEqual(['failing', 'healthy']);
  });
});
