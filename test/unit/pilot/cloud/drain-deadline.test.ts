import { describe, expect, it } from 'vitest';
import { drainDeadline, MIN_DRAIN_MS, SPOT_DRAIN_DEFAULTS } from '#pilot/cloud/drain-deadline.ts';

const NOW = Date.parse('2026-12-02T15:00:00Z');
const options = { drainSec: 300, killGraceSec: 5, ...SPOT_DRAIN_DEFAULTS };

describe('drainDeadline', () => {
  it('a notice 120 s ahead: drains until 5 s before it, kills after the grace, keeps 10 s for reports', () => {
    expect(drainDeadline(NOW + 120_000, NOW, options)).toEqual({
      drainMs: 115_000,
      killAfterMs: 5000,
      reportMs: 10_000,
      late: false,
    });
  });

  it('a notice 10 s ahead: 5 s of drain, half for the payload to end and half for the reports', () => {
    expect(drainDeadline(NOW + 10_000, NOW, options)).toEqual({
      drainMs: 5000,
      killAfterMs: 2500,
      reportMs: 2500,
      late: false,
    });
  });

  it('a notice already past: the shortest drain, the payload killed at once after half of it', () => {
    const timing = drainDeadline(NOW - 3000, NOW, options);
    expect(timing).toEqual({ drainMs: MIN_DRAIN_MS, killAfterMs: 500, reportMs: 500, late: true });
  });

  it('a notice within the safety margin is late too', () => {
    expect(drainDeadline(NOW + 5500, NOW, options).late).toBe(true);
    expect(drainDeadline(NOW + 5500, NOW, options).drainMs).toBe(MIN_DRAIN_MS);
  });

  it('--drain-sec smaller than the notice bounds the drain', () => {
    expect(drainDeadline(NOW + 120_000, NOW, { ...options, drainSec: 30 })).toEqual({
      drainMs: 30_000,
      killAfterMs: 5000,
      reportMs: 10_000,
      late: false,
    });
  });

  it('a kill grace longer than the drain leaves the report reserve', () => {
    const timing = drainDeadline(NOW + 40_000, NOW, { ...options, killGraceSec: 600 });
    expect(timing.drainMs).toBe(35_000);
    expect(timing.killAfterMs).toBe(25_000);
    expect(timing.killAfterMs + timing.reportMs).toBe(timing.drainMs);
  });
});
