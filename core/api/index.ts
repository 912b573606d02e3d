/** The HTTP API contract: shared shapes, each capability's bodies and answers, and the operations table. */
export * from './common.ts';
export * from './metrics.ts';
export * from './operations.ts';
export * from './pilots.ts';
export * from './policies.ts';
export * from './results.ts';
export * from './retry-policy.ts';
export * from './sites.ts';
export * from './tasks.ts';
