/**
 * The PilotLeaseStore contract (core/pilots/ports.ts), written once and run against every
 * implementation: the in-memory fake the unit tests use and the DynamoDB adapter production uses.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import type { PilotLease } from '#core/pilots/pilot.ts';
import type { PilotLeaseStore } from '#core/pilots/ports.ts';
import { makeLease, newPilotId } from '../adapters/fixtures.ts';

/** makeLease's leases expire at 10:02; these are times around it, epoch ms. */
const EXPIRES = Date.parse('2026-11-25T10:02:00.000Z');
const LATER = Date.parse('2026-11-25T10:05:00.000Z');
const BEAT_AT = '2026-11-25T10:01:00.000Z';

const JOB_A = 't-aaaaaa.0.1';
const JOB_B = 't-aaaaaa.1.1';
const KILL_A = `${JOB_A}|cancelled`;
const KILL_B = `${JOB_B}|cancelled`;

/** The lease with its kill entries in a stable order (a store may keep them as an unordered set). */
function sortedKills(lease: PilotLease | undefined): PilotLease | undefined {
  return lease === undefined ? undefined : { ...lease, kill: [...lease.kill].sort() };
}

/** The sweep, every page, following the cursors (at most 20 pages). */
async function sweep(store: PilotLeaseStore) {
  const pages: Awaited<ReturnType<PilotLeaseStore['scan']>>[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.scan(cursor);
    pages.push(page);
    cursor = page.cursor;
  } while (cursor !== undefined && pages.length < 20);
  return pages;
}

/**
 * `makeStore` gives a new, empty store. Most tests share one (each works on pilots of its own);
 * the sweep test makes its own, to know every lease in it.
 */
export function describePilotLeaseStoreContract(
  name: string,
  makeStore: () => Promise<PilotLeaseStore>,
): void {
  describe(`${name} (PilotLeaseStore contract)`, () => {
    let store: PilotLeaseStore;
    beforeAll(async () => {
      store = await makeStore();
    });

    /** A lease created with `overrides` (by default: starting, site-a, expiring at 10:02). */
    async function created(overrides: Partial<PilotLease> = {}): Promise<PilotLease> {
      const lease = makeLease(overrides);
      await store.create(lease);
      return lease;
    }

    /** A busy pilot holding JOB_A and JOB_B, told to kill both. */
    async function killedBusy(): Promise<PilotLease> {
      const lease = await created({ state: 'busy', jobs: [JOB_A, JOB_B] });
      await store.addKills(lease.pilotId, [KILL_A, KILL_B]);
      return { ...lease, kill: [KILL_A, KILL_B] };
    }

    describe('create and read', () => {
      it('creates a lease and reads it back; an unknown pilot has none', async () => {
        const lease = await created({ jobsRun: 2, jobs: [JOB_A] });
        expect(await store.get(lease.pilotId)).toEqual(lease);
        expect(await store.get(newPilotId())).toBeUndefined();
      });

      it('reads back a lease without host or beat as it was created', async () => {
        const { host: _h, beatAt: _b, ...lease } = makeLease();
        await store.create(lease);
        expect(await store.get(lease.pilotId)).toEqual(lease);
      });

      it('starts a lease with no kill entries, whatever it was created with', async () => {
        const lease = await created({ kill: [KILL_A] });
        expect(await store.get(lease.pilotId)).toEqual({ ...lease, kill: [] });
      });

      it('keeps one lease when the same lease is created again', async () => {
        const lease = await created();
        await store.create(lease);
        expect(await store.get(lease.pilotId)).toEqual(lease);
      });

      it('creates a lease once: creating it again (a retried registration) leaves the lease as it is', async () => {
        const lease = await created();
        const held = await store.hold(lease.pilotId, { jobs: [JOB_A], state: 'busy', expiresAt: LATER });
        await store.create({ ...lease, expiresAt: LATER + 1 });
        expect(await store.get(lease.pilotId)).toEqual(held);
      });
    });

    describe('hold (claims and reports)', () => {
      it('sets the attempts a live pilot holds, its state and expiry, and answers the lease; the rest stays', async () => {
        const lease = await created({ state: 'idle', jobsRun: 3 });
        const held = await store.hold(lease.pilotId, {
          jobs: [JOB_A],
          state: 'busy',
          expiresAt: LATER,
          siteId: 'site-a',
        });
        const expected = { ...lease, jobs: [JOB_A], state: 'busy', expiresAt: LATER };
        expect(held).toEqual(expected);
        expect(await store.get(lease.pilotId)).toEqual(expected);
      });

      it('holds for any live state: starting, idle, busy and draining', async () => {
        for (const state of ['starting', 'idle', 'busy', 'draining'] as const) {
          const lease = await created({ state });
          const held = await store.hold(lease.pilotId, { jobs: [JOB_A], state: 'busy', expiresAt: LATER });
          expect(held?.jobs, state).toEqual([JOB_A]);
        }
      });

      it('answers undefined, writing nothing, to a pilot of another site, one gone and one unknown', async () => {
        const change = { jobs: [JOB_A], state: 'busy' as const, expiresAt: LATER };
        const other = await created({ state: 'idle' });
        expect(await store.hold(other.pilotId, { ...change, siteId: 'site-b' })).toBeUndefined();
        expect(await store.get(other.pilotId)).toEqual(other);

        for (const state of ['exited', 'lost'] as const) {
          const gone = await created({ state });
          expect(await store.hold(gone.pilotId, change), state).toBeUndefined();
          expect(await store.get(gone.pilotId)).toEqual(gone);
        }

        const unknown = newPilotId();
        expect(await store.hold(unknown, change)).toBeUndefined();
        expect(await store.get(unknown)).toBeUndefined();
      });

      it('drops the kill entries of reported attempts and keeps the others', async () => {
        const lease = await killedBusy();
        const held = await store.hold(lease.pilotId, {
          jobs: [JOB_B],
          state: 'busy',
          expiresAt: LATER,
          dropKills: [KILL_A, `t-zzzzzz.0.1|cancelled`],
        });
        const expected = { ...lease, jobs: [JOB_B], expiresAt: LATER, kill: [KILL_B] };
        expect(held).toEqual(expected);
        expect(await store.get(lease.pilotId)).toEqual(expected);

        const idle = await store.hold(lease.pilotId, {
          jobs: [],
          state: 'idle',
          expiresAt: LATER,
          dropKills: [KILL_B],
        });
        expect(idle).toEqual({ ...expected, jobs: [], state: 'idle', kill: [] });
      });

      it('never undoes a drain: a draining lease stays draining, its jobs, expiry and kill entries set as for any other', async () => {
        const lease = await created({ state: 'draining', jobs: [JOB_A, JOB_B] });
        await store.addKills(lease.pilotId, [KILL_A, KILL_B]);
        let expected: PilotLease = lease;
        for (const [i, state] of (['idle', 'busy', 'starting'] as const).entries()) {
          const change = { jobs: i === 1 ? [JOB_B] : [], expiresAt: LATER + i, siteId: 'site-a' };
          const held = await store.hold(lease.pilotId, { ...change, state, dropKills: [KILL_A] });
          expected = { ...lease, jobs: change.jobs, expiresAt: change.expiresAt, kill: [KILL_B] };
          expect(held, state).toEqual(expected);
          expect(await store.get(lease.pilotId), state).toEqual(expected);
        }

        const elsewhere = { jobs: [], state: 'idle' as const, expiresAt: LATER * 2, siteId: 'site-b' };
        expect(await store.hold(lease.pilotId, elsewhere)).toBeUndefined();
        expect(await store.get(lease.pilotId)).toEqual(expected);
        // The pilot's own renewal moves it on.
        const exit = { state: 'exited' as const, expiresAt: LATER * 2, beatAt: BEAT_AT, jobsRun: 3 };
        expect(await store.renew(lease.pilotId, exit)).toMatchObject({ state: 'exited' });
      });
    });

    describe('renew (heartbeats)', () => {
      it("renews a live pilot's lease: state, expiry, beat and jobs run, leaving its jobs and kill entries", async () => {
        const lease = await killedBusy();
        const change = { state: 'draining' as const, expiresAt: LATER, beatAt: BEAT_AT, jobsRun: 4 };
        const expected = { ...lease, ...change };
        expect(sortedKills(await store.renew(lease.pilotId, change))).toEqual(expected);
        expect(sortedKills(await store.get(lease.pilotId))).toEqual(expected);
      });

      it('records the exit of a live pilot, after which it neither renews nor holds', async () => {
        const lease = await created({ state: 'idle' });
        const exited = await store.renew(lease.pilotId, {
          state: 'exited',
          expiresAt: LATER,
          beatAt: BEAT_AT,
          jobsRun: 2,
        });
        expect(exited).toEqual({ ...lease, state: 'exited', expiresAt: LATER, beatAt: BEAT_AT, jobsRun: 2 });

        const again = { state: 'idle' as const, expiresAt: LATER + 60_000, beatAt: BEAT_AT, jobsRun: 3 };
        expect(await store.renew(lease.pilotId, again)).toBeUndefined();
        expect(
          await store.hold(lease.pilotId, { jobs: [JOB_A], state: 'busy', expiresAt: LATER }),
        ).toBeUndefined();
        expect(await store.get(lease.pilotId)).toEqual(exited);
      });

      it('answers undefined, writing nothing, to a lost pilot and to an unknown one', async () => {
        const change = { state: 'idle' as const, expiresAt: LATER, beatAt: BEAT_AT, jobsRun: 1 };
        const lost = await created({ state: 'lost' });
        expect(await store.renew(lost.pilotId, change)).toBeUndefined();
        expect(await store.get(lost.pilotId)).toEqual(lost);

        const unknown = newPilotId();
        expect(await store.renew(unknown, change)).toBeUndefined();
        expect(await store.get(unknown)).toBeUndefined();
      });
    });

    describe('kill entries', () => {
      it('adds kill entries as a set: an entry added twice is kept once, calls add up', async () => {
        const lease = await created({ state: 'busy', jobs: [JOB_A, JOB_B] });
        await store.addKills(lease.pilotId, [KILL_A, KILL_A]);
        await store.addKills(lease.pilotId, [KILL_A]);
        expect((await store.get(lease.pilotId))?.kill).toEqual([KILL_A]);
        await store.addKills(lease.pilotId, [KILL_B, KILL_A]);
        expect(sortedKills(await store.get(lease.pilotId))).toEqual({ ...lease, kill: [KILL_A, KILL_B] });
      });

      it('adds nothing to the lease of a pilot gone, and creates no lease for an unknown pilot', async () => {
        const lost = await created({ state: 'lost' });
        await store.addKills(lost.pilotId, [KILL_A]);
        expect(await store.get(lost.pilotId)).toEqual(lost);

        const unknown = newPilotId();
        await store.addKills(unknown, [KILL_A]);
        expect(await store.get(unknown)).toBeUndefined();
      });

      it('changes nothing for no entries', async () => {
        const lease = await created({ state: 'busy' });
        await store.addKills(lease.pilotId, []);
        expect(await store.get(lease.pilotId)).toEqual(lease);
      });
    });

    describe('reaping', () => {
      it('marks a live pilot whose lease expired before now lost, answering the lease with its jobs', async () => {
        const lease = await killedBusy();
        const lost = await store.markLost(lease.pilotId, LATER);
        expect(sortedKills(lost)).toEqual({ ...lease, state: 'lost' });
        expect(sortedKills(await store.get(lease.pilotId))).toEqual({ ...lease, state: 'lost' });
      });

      it('marks a pilot lost once: the second sweep, a late heartbeat and a late claim are all refused', async () => {
        const lease = await created({ state: 'busy', jobs: [JOB_A] });
        expect(await store.markLost(lease.pilotId, LATER)).toBeDefined();
        expect(await store.markLost(lease.pilotId, LATER)).toBeUndefined();
        expect(
          await store.renew(lease.pilotId, {
            state: 'busy',
            expiresAt: LATER * 2,
            beatAt: BEAT_AT,
            jobsRun: 1,
          }),
        ).toBeUndefined();
        expect(
          await store.hold(lease.pilotId, { jobs: [], state: 'idle', expiresAt: LATER * 2 }),
        ).toBeUndefined();
        expect(await store.get(lease.pilotId)).toEqual({ ...lease, state: 'lost' });
      });

      it('leaves alone a lease renewed in time (expiring now or later), one that exited, and an unknown pilot', async () => {
        const renewed = await created({ state: 'idle' });
        expect(await store.markLost(renewed.pilotId, EXPIRES)).toBeUndefined();
        expect(await store.markLost(renewed.pilotId, EXPIRES - 1)).toBeUndefined();
        expect(await store.get(renewed.pilotId)).toEqual(renewed);
        expect(await store.markLost(renewed.pilotId, EXPIRES + 1)).toMatchObject({ state: 'lost' });

        const exited = await created({ state: 'exited' });
        expect(await store.markLost(exited.pilotId, LATER)).toBeUndefined();
        expect(await store.get(exited.pilotId)).toEqual(exited);

        const unknown = newPilotId();
        expect(await store.markLost(unknown, LATER)).toBeUndefined();
        expect(await store.get(unknown)).toBeUndefined();
      });

      it('removes a lease; removing one that is gone is fine', async () => {
        const lease = await created({ state: 'exited' });
        await store.remove(lease.pilotId);
        expect(await store.get(lease.pilotId)).toBeUndefined();
        await expect(store.remove(lease.pilotId)).resolves.toBeUndefined();
      });
    });

    describe('sweep', () => {
      it('sweeps every lease once, in any state, in pages of 1000 with a cursor; a full page has a cursor even when nothing follows', async () => {
        const leases = await makeStore();
        expect(await leases.scan()).toEqual({ leases: [] });

        const states = ['starting', 'idle', 'busy', 'draining', 'exited', 'lost'] as const;
        const all = Array.from({ length: 1001 }, (_, i) =>
          makeLease({ pilotId: `p-sweep${String(i).padStart(5, '0')}`, state: states[i % states.length] }),
        );
        const byId = (a: PilotLease, b: PilotLease) => a.pilotId.localeCompare(b.pilotId);
        // More than one page needs more than 1000 leases: created 50 at a time.
        for (let i = 0; i < 1000; i += 50)
          await Promise.all(all.slice(i, i + 50).map((l) => leases.create(l)));

        const full = await sweep(leases);
        expect(full.map((p) => p.leases.length)).toEqual([1000, 0]);
        expect(full.map((p) => p.cursor === undefined)).toEqual([false, true]);
        expect(full.flatMap((p) => p.leases).sort(byId)).toEqual(all.slice(0, 1000));

        await leases.create(all[1000] as PilotLease);
        const pages = await sweep(leases);
        expect(pages.map((p) => p.leases.length)).toEqual([1000, 1]);
        expect(pages.flatMap((p) => p.leases).sort(byId)).toEqual(all);
      });

      it('refuses a cursor that no sweep gave as a ValidationError', async () => {
        for (const cursor of ['not-a-cursor!', 'e30']) {
          const error = await store.scan(cursor).catch((e: unknown) => e);
          expect(error, cursor).toBeInstanceOf(ValidationError);
        }
      });
    });
  });
}
