/**
 * For integration tests: points the AWS SDK at the stand-ins started by
 * test/integration/global-setup.ts, and gives resource names unique to one test file.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { awsEnvFor } from '#local/stand-ins.ts';

/**
 * Sets AWS_ENDPOINT_URL_*, region and dummy credentials in process.env (plus `extra`) and returns
 * a function that puts the previous values back. Call it before creating SDK clients.
 */
export function useStandInsEnv(extra: Record<string, string> = {}): () => void {
  const env = { ...awsEnvFor(inject('awsEndpoints')), ...extra };
  const previous = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(env)) {
    previous.set(name, process.env[name]);
    process.env[name] = value;
  }
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

/** `${prefix}${random}-`: a prefix for table or queue names no other test file uses. */
export function uniquePrefix(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}-`;
}
