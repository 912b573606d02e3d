import { describe, expect, it } from 'vitest';
import {
  isLivePilotState,
  killEntry,
  PILOT_STATES,
  PilotRegistrationSchema,
  PilotResourcesSchema,
} from '#core/pilots/pilot.ts';
import { BIG_PILOT } from '../scenario.ts';

describe('isLivePilotState', () => {
  it('holds for starting, idle, busy and draining only', () => {
    expect(PILOT_STATES.filter(isLivePilotState)).toEqual(['starting', 'idle', 'busy', 'draining']);
  });
});

describe('killEntry', () => {
  it('joins an attempt key and the reason to kill it', () => {
    expect(killEntry('t-000001.3.2', 'cancelled')).toBe('t-000001.3.2|cancelled');
  });
});

describe('PilotRegistrationSchema', () => {
  const registration = { siteId: 'cern', host: 'wn1', pid: 7, resources: BIG_PILOT };

  it('fills the version when the pilot gives none', () => {
    expect(PilotRegistrationSchema.parse(registration).version).toBe('dev');
  });

  it('names a malformed check and an unknown field', () => {
    const result = PilotRegistrationSchema.safeParse({
      ...registration,
      health: [{ name: '', ok: 'yes' }],
      extra: 1,
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.')).sort()).toEqual([
      '',
      'health.0.name',
      'health.0.ok',
    ]);
  });
});

describe('PilotResourcesSchema', () => {
  it('refuses a pilot without a core or with negative walltime left', () => {
    expect(PilotResourcesSchema.safeParse({ ...BIG_PILOT, cores: 0 }).success).toBe(false);
    expect(PilotResourcesSchema.safeParse({ ...BIG_PILOT, walltimeLeftSec: -1 }).success).toBe(false);
    expect(PilotResourcesSchema.safeParse(BIG_PILOT).success).toBe(true);
  });
});
