import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PilotCredentials } from '#core/api/pilots.ts';
import { isPilotCredentials, renewalDueAt, VendedCredentials } from '#pilot/vended-credentials.ts';

const MIN = 60_000;
const T0 = Date.parse('2026-11-25T12:00:00Z');

function creds(n: number, lifetimeMs: number): PilotCredentials {
  return {
    accessKeyId: `AKIA${n}`,
    secretAccessKey: `secret-${n}`,
    sessionToken: `session-${n}`,
    expiration: new Date(Date.now() + lifetimeMs).toISOString(),
  };
}

describe('renewalDueAt', () => {
  it('renews when 5 minutes or 20 % of the lifetime are left, whichever comes first', () => {
    // 1 h: 20 % (12 min) comes first.
    expect(renewalDueAt(T0, T0 + 60 * MIN)).toBe(T0 + 48 * MIN);
    // 15 min (the STS minimum): 5 min left comes first.
    expect(renewalDueAt(T0, T0 + 15 * MIN)).toBe(T0 + 10 * MIN);
    // 12 h: 20 % = 2.4 h before.
    expect(renewalDueAt(T0, T0 + 720 * MIN)).toBe(T0 + 576 * MIN);
  });

  it('renews short lifetimes at half-life, never in a loop', () => {
    expect(renewalDueAt(T0, T0 + 4 * MIN)).toBe(T0 + 2 * MIN);
    expect(renewalDueAt(T0, T0 + 4000)).toBe(T0 + 2000);
    expect(renewalDueAt(T0, T0 - 1000)).toBe(T0 - 1000);
  });
});

describe('VendedCredentials', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
  });
  afterEach(() => vi.useRealTimers());

  it('hands the SDK the vended credentials and renews them in the background when due', async () => {
    let n = 1;
    const renew = vi.fn(async () => creds(++n, 60 * MIN));
    const vended = new VendedCredentials(creds(1, 60 * MIN), { renew });
    vended.start();
    expect(vended.provider.memoized).toBe(true);
    expect(await vended.provider()).toMatchObject({ accessKeyId: 'AKIA1', sessionToken: 'session-1' });

    await vi.advanceTimersByTimeAsync(48 * MIN - 1000);
    expect(renew).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1000);
    expect(renew).toHaveBeenCalledTimes(1);
    expect(await vended.provider()).toMatchObject({ accessKeyId: 'AKIA2' });
    expect((await vended.provider()).expiration).toEqual(new Date(T0 + 108 * MIN));

    await vi.advanceTimersByTimeAsync(48 * MIN);
    expect(renew).toHaveBeenCalledTimes(2);
    expect(vended.renewals).toBe(2);
    vended.stop();
    await vi.advanceTimersByTimeAsync(120 * MIN);
    expect(renew).toHaveBeenCalledTimes(2);
  });

  it('renews when asked past the due time even without the timer (e.g. a machine that slept)', async () => {
    const renew = vi.fn(async () => creds(2, 15 * MIN));
    const vended = new VendedCredentials(creds(1, 15 * MIN), { renew });
    vi.setSystemTime(T0 + 11 * MIN);
    expect(await vended.provider()).toMatchObject({ accessKeyId: 'AKIA2' });
    expect(renew).toHaveBeenCalledTimes(1);
  });

  it('renews once for callers at the same time', async () => {
    let release: (() => void) | undefined;
    const renew = vi.fn(
      () => new Promise<PilotCredentials>((resolve) => (release = () => resolve(creds(2, 60 * MIN)))),
    );
    const vended = new VendedCredentials(creds(1, 60 * MIN), { renew });
    vi.setSystemTime(T0 + 50 * MIN);
    const calls = [vended.provider(), vended.provider(), vended.provider()];
    await vi.advanceTimersByTimeAsync(0);
    release?.();
    const results = await Promise.all(calls);
    expect(results.map((r) => r.accessKeyId)).toEqual(['AKIA2', 'AKIA2', 'AKIA2']);
    expect(renew).toHaveBeenCalledTimes(1);
  });

  it('keeps the current credentials when renewal fails, and retries after a pause', async () => {
    let fail = true;
    const renew = vi.fn(async () => {
      if (fail) throw new Error('API unavailable');
      return creds(2, 60 * MIN);
    });
    const vended = new VendedCredentials(creds(1, 60 * MIN), { renew, retryMs: 15_000 });
    vended.start();
    await vi.advanceTimersByTimeAsync(48 * MIN);
    expect(renew).toHaveBeenCalledTimes(1);
    // No retry storm: asking again within the pause does not call the API.
    expect(await vended.provider()).toMatchObject({ accessKeyId: 'AKIA1' });
    expect(renew).toHaveBeenCalledTimes(1);
    fail = false;
    await vi.advanceTimersByTimeAsync(15_000);
    expect(renew).toHaveBeenCalledTimes(2);
    expect(await vended.provider()).toMatchObject({ accessKeyId: 'AKIA2' });
    vended.stop();
  });

  it('refuses an answer without usable credentials', async () => {
    const renew = vi.fn(
      async () => ({ accessKeyId: '', secretAccessKey: 'x', expiration: 'soon' }) as PilotCredentials,
    );
    const vended = new VendedCredentials(creds(1, 60 * MIN), { renew });
    await vended.renewNow();
    expect(vended.current.accessKeyId).toBe('AKIA1');
    expect(isPilotCredentials(creds(1, 1))).toBe(true);
    expect(isPilotCredentials({ accessKeyId: 'a', secretAccessKey: 'b' })).toBe(false);
  });
});
