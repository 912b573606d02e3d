import { describe, expect, it } from 'vitest';
import { emptyCensus, livePilots, maxQueuedOf, SiteIdSchema, SiteSchema } from '#core/sites/site.ts';

describe('SiteSchema', () => {
  it('fills the defaults of a site given by id alone', () => {
    expect(SiteSchema.parse({ siteId: 'cern' })).toEqual({
      siteId: 'cern',
      kind: 'local',
      status: 'online',
      slot: { cores: 1, memoryMB: 2000, walltimeSec: 86_400, diskMB: 10_000 },
      maxPilots: 100,
      tags: [],
    });
  });

  it('takes the GPUs and architecture of a slot, and refuses bad ones', () => {
    expect(SiteSchema.parse({ siteId: 'gpu', slot: { gpus: 4, arch: 'aarch64' } }).slot).toMatchObject({
      gpus: 4,
      arch: 'aarch64',
    });
    expect(SiteSchema.safeParse({ siteId: 'gpu', slot: { gpus: -1 } }).success).toBe(false);
    expect(SiteSchema.safeParse({ siteId: 'gpu', slot: { arch: 'ARM!' } }).success).toBe(false);
  });

  it('holds at most maxQueued jobs, else twice maxPilots, at least 100', () => {
    expect(maxQueuedOf(SiteSchema.parse({ siteId: 'a', maxQueued: 3 }))).toBe(3);
    expect(maxQueuedOf(SiteSchema.parse({ siteId: 'a', maxQueued: 0, maxPilots: 10 }))).toBe(0);
    expect(maxQueuedOf(SiteSchema.parse({ siteId: 'a', maxPilots: 250 }))).toBe(500);
    expect(maxQueuedOf(SiteSchema.parse({ siteId: 'a', maxPilots: 2 }))).toBe(100);
  });

  it('refuses an unknown status and a negative pilot cap', () => {
    expect(SiteSchema.safeParse({ siteId: 'cern', status: 'down' }).success).toBe(false);
    expect(SiteSchema.safeParse({ siteId: 'cern', maxPilots: -1 }).success).toBe(false);
  });
});

describe('SiteIdSchema', () => {
  it.each(['cern', 'bnl-t1', 'a', '0site'])('accepts %s', (id) => {
    expect(SiteIdSchema.safeParse(id).success).toBe(true);
  });

  it.each(['CERN', '-cern', 'cern_t0', 'a'.repeat(41), ''])(
    'refuses %j, which could not name a queue',
    (id) => {
      expect(SiteIdSchema.safeParse(id).success).toBe(false);
    },
  );
});

describe('livePilots', () => {
  it('adds up the pilots of every live state', () => {
    expect(livePilots({ starting: 1, idle: 2, busy: 3, draining: 4 })).toBe(10);
    expect(livePilots(emptyCensus())).toBe(0);
  });
});
