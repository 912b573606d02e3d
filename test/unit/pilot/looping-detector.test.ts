import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LoopingDetector, newestMtimeMs } from '#pilot/looping-detector.ts';

describe('LoopingDetector', () => {
  function detector(initialMtimeMs = 1000) {
    let now = 0;
    const d = new LoopingDetector({ loopingSec: 60, now: () => now, initialMtimeMs });
    return { d, at: (sec: number) => (now = sec * 1000) };
  }

  it('flags no output and no file change for the looping limit', () => {
    const { d, at } = detector();
    at(30);
    expect(d.observe(0, 1000)).toBe(false);
    at(59);
    expect(d.observe(0, 1000)).toBe(false);
    at(60);
    expect(d.observe(0, 1000)).toBe(true);
  });

  it('counts new output as activity', () => {
    const { d, at } = detector();
    at(50);
    expect(d.observe(10, 1000)).toBe(false);
    at(100);
    expect(d.observe(10, 1000)).toBe(false);
    at(110);
    expect(d.observe(10, 1000)).toBe(true);
  });

  it('counts a newer file as activity, but not the files that were there at the start', () => {
    const { d, at } = detector(5000);
    at(50);
    expect(d.observe(0, 5000)).toBe(false);
    at(55);
    expect(d.observe(0, 9000)).toBe(false);
    at(114);
    expect(d.observe(0, 9000)).toBe(false);
    at(115);
    expect(d.observe(0, 9000)).toBe(true);
    expect(d.idleSec()).toBe(60);
  });
});

describe('newestMtimeMs', () => {
  it('finds the newest modification in a tree', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gluon-loop-'));
    try {
      mkdirSync(join(root, 'a/b'), { recursive: true });
      writeFileSync(join(root, 'old.txt'), 'x');
      writeFileSync(join(root, 'a/b/new.txt'), 'y');
      const old = new Date('2020-01-01T00:00:00Z');
      const newer = new Date('2021-01-01T00:00:00Z');
      for (const p of [root, join(root, 'a'), join(root, 'a/b'), join(root, 'old.txt')])
        utimesSync(p, old, old);
      utimesSync(join(root, 'a/b/new.txt'), newer, newer);
      expect(await newestMtimeMs(root)).toBe(newer.getTime());
      // Limited scans stop early (a payload may write very many files).
      expect(await newestMtimeMs(root, 1)).toBeLessThan(newer.getTime());
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('is 0 for a directory that does not exist', async () => {
    expect(await newestMtimeMs('/nonexistent/gluon')).toBe(0);
  });
});
