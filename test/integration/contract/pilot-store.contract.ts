/**
 * The PilotStore contract (core/pilots/ports.ts), written once and run against every
 * implementation: the in-memory fake the unit tests use and the DynamoDB adapter production uses.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import type { Pilot } from '#core/pilots/pilot.ts';
import type { PilotStore } from '#core/pilots/ports.ts';
import { makePilot, newPilotId } from '../adapters/fixtures.ts';

const ENDED_AT = '2026-11-25T11:00:00.000Z';

/** Every page of the registry, following the tokens (at most 20 pages). */
async function allPages(store: PilotStore, limit: number) {
  const pages: Awaited<ReturnType<PilotStore['list']>>[] = [];
  let nextToken: string | undefined;
  do {
    const page = await store.list({ limit, ...(nextToken === undefined ? {} : { nextToken }) });
    pages.push(page);
    nextToken = page.nextToken;
  } while (nextToken !== undefined && pages.length < 20);
  return pages;
}

function byId(a: Pilot, b: Pilot): number {
  return a.pilotId.localeCompare(b.pilotId);
}

/**
 * `makeStore` gives a new, empty store. Most tests share one (each works on pilots of its own);
 * the listing tests make their own, to know every pilot in it.
 */
export function describePilotStoreContract(name: string, makeStore: () => Promise<PilotStore>): void {
  describe(`${name} (PilotStore contract)`, () => {
    let store: PilotStore;
    beforeAll(async () => {
      store = await makeStore();
    });

    describe('registration and end', () => {
      it('registers a pilot and reads it back as it was registered', async () => {
        const pilot = makePilot({
          batchId: 'slurm-42',
          health: [{ name: 'disk', ok: true, value: '12.3 GB free' }],
          resources: { cores: 8, memoryMB: 16_000, diskMB: 50_000, walltimeLeftSec: 7200, tags: ['gpu'] },
        });
        expect(await store.register(pilot)).toBe('registered');
        expect(await store.get(pilot.pilotId)).toEqual(pilot);
      });

      it('registers a pilot id once: a second registration answers exists and keeps the first', async () => {
        const pilot = makePilot();
        expect(await store.register(pilot)).toBe('registered');
        expect(await store.register({ ...pilot, host: 'wn99' })).toBe('exists');
        expect(await store.get(pilot.pilotId)).toEqual(pilot);
      });

      it('has no pilot that never registered', async () => {
        expect(await store.get(newPilotId())).toBeUndefined();
      });

      it('reads a pilot registered as already gone (unhealthy) back as it was registered', async () => {
        const pilot = makePilot({
          state: 'unhealthy',
          endedAt: ENDED_AT,
          health: [{ name: 'cvmfs', ok: false, message: 'not mounted' }],
        });
        await store.register(pilot);
        expect(await store.get(pilot.pilotId)).toEqual(pilot);
      });

      it('records the end of a pilot once: state, time and jobs run; a second end changes nothing', async () => {
        const pilot = makePilot({ state: 'idle' });
        await store.register(pilot);
        await store.end(pilot.pilotId, { state: 'lost', at: ENDED_AT, jobsRun: 7 });
        const ended = { ...pilot, state: 'lost', endedAt: ENDED_AT, jobsRun: 7 };
        expect(await store.get(pilot.pilotId)).toEqual(ended);

        await store.end(pilot.pilotId, { state: 'exited', at: '2026-11-25T12:00:00.000Z', jobsRun: 9 });
        expect(await store.get(pilot.pilotId)).toEqual(ended);
      });

      it('records an end without a job count as it is', async () => {
        const pilot = makePilot();
        await store.register(pilot);
        await store.end(pilot.pilotId, { state: 'exited', at: ENDED_AT });
        expect(await store.get(pilot.pilotId)).toEqual({ ...pilot, state: 'exited', endedAt: ENDED_AT });
      });

      it('leaves a pilot registered as gone as it is when ended', async () => {
        const pilot = makePilot({ state: 'unhealthy', endedAt: ENDED_AT });
        await store.register(pilot);
        await store.end(pilot.pilotId, { state: 'lost', at: '2026-11-25T12:00:00.000Z', jobsRun: 1 });
        expect(await store.get(pilot.pilotId)).toEqual(pilot);
      });

      it('creates nothing when ending a pilot that never registered', async () => {
        const pilotId = newPilotId();
        await store.end(pilotId, { state: 'lost', at: ENDED_AT, jobsRun: 1 });
        expect(await store.get(pilotId)).toBeUndefined();
      });
    });

    describe('listing', () => {
      it('lists every pilot once across pages of at most the limit, as registered or ended', async () => {
        const registry = await makeStore();
        const pilots = Array.from({ length: 5 }, () => makePilot());
        for (const pilot of pilots) await registry.register(pilot);
        const first = pilots[0] as Pilot;
        await registry.end(first.pilotId, { state: 'exited', at: ENDED_AT, jobsRun: 2 });

        const pages = await allPages(registry, 2);
        for (const page of pages) expect(page.items.length).toBeLessThanOrEqual(2);
        expect(pages.length).toBeGreaterThanOrEqual(3);
        expect(pages.at(-1)?.nextToken).toBeUndefined();
        const expected: Pilot[] = [
          { ...first, state: 'exited', endedAt: ENDED_AT, jobsRun: 2 },
          ...pilots.slice(1),
        ];
        expect(pages.flatMap((p) => p.items).sort(byId)).toEqual(expected.sort(byId));
      });

      it('gives a full page a token even when nothing follows (the store cannot tell); the next page is empty', async () => {
        const registry = await makeStore();
        const pilots = Array.from({ length: 4 }, () => makePilot());
        for (const pilot of pilots) await registry.register(pilot);

        const pages = await allPages(registry, 2);
        expect(pages.map((p) => p.items.length)).toEqual([2, 2, 0]);
        expect(pages.map((p) => p.nextToken === undefined)).toEqual([false, false, true]);
        expect(pages.flatMap((p) => p.items).sort(byId)).toEqual(pilots.sort(byId));
      });

      it('answers an empty page without a token for an empty registry', async () => {
        const registry = await makeStore();
        expect(await registry.list({ limit: 10 })).toEqual({ items: [] });
      });

      it('refuses a page token that no listing gave as a ValidationError on nextToken', async () => {
        for (const nextToken of ['bad!', 'e30', Buffer.from('[1]').toString('base64url')]) {
          const error = await store.list({ limit: 2, nextToken }).catch((e: unknown) => e);
          expect(error, nextToken).toBeInstanceOf(ValidationError);
          expect((error as ValidationError).issues.map((i) => i.field)).toEqual(['nextToken']);
        }
      });
    });
  });
}
