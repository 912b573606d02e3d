import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { OPERATIONS, type Operation } from '#core/api/operations.ts';

const operations = Object.entries(OPERATIONS) as Array<[string, Operation]>;

function keysOf(schema: z.ZodType | undefined): string[] {
  const shape = (schema as { shape?: Record<string, unknown> } | undefined)?.shape;
  return shape === undefined ? [] : Object.keys(shape).sort();
}

describe('OPERATIONS', () => {
  it('gives each method and path to one operation only', () => {
    const routes = operations.map(([, op]) => `${op.method} ${op.path}`);
    expect(new Set(routes).size).toBe(routes.length);
  });

  it.each(operations)('validates every path parameter of %s, and no other', (_id, op) => {
    const inPath = [...op.path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1]).sort();
    expect(keysOf(op.params)).toEqual(inPath);
  });

  it.each(operations.filter(([, op]) => op.method === 'GET'))('takes no body for the GET %s', (_id, op) => {
    expect(op.body).toBeUndefined();
  });

  it('has no heartbeat route any more: pilots renew their own lease', () => {
    expect(operations.some(([id, op]) => /heartbeat/i.test(id) || op.path.includes('heartbeat'))).toBe(false);
  });

  it('admits pilots, and pilots only, to the pilot routes', () => {
    for (const id of ['registerPilot', 'claimJob', 'completeJob', 'renewPilotCredentials'] as const) {
      expect(OPERATIONS[id].scopes).toEqual(['gluon.pilot']);
    }
  });

  it("admits pilots (a factory's) and operators (the web monitor's sites page), and no user, to a site's demand", () => {
    expect(OPERATIONS.siteDemand.scopes).toEqual(['gluon.pilot', 'gluon.admin']);
  });

  it('answers a cancel at once (202) and a submission with 201', () => {
    expect(OPERATIONS.cancelTask.status).toBe(202);
    expect(OPERATIONS.submitTask.status).toBe(201);
  });
});
