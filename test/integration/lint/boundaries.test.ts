import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');

/** Lints one probe file written at `dir/<name>` (then removed), as `npm run lint` would. */
function lint(dir: string, source: string, suffix = '.ts'): { ok: boolean; output: string } {
  const file = join(ROOT, dir, `boundary-probe-${randomBytes(4).toString('hex')}${suffix}`);
  writeFileSync(file, source);
  try {
    const run = spawnSync(BIOME, ['lint', '--colors=off', file], { cwd: ROOT, encoding: 'utf8' });
    return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
  } finally {
    rmSync(file, { force: true });
  }
}

const importing = (specifier: string) => `import * as m from '${specifier}';\nexport const probe = m;\n`;

describe('npm run lint: the boundaries between the layers', () => {
  it('fails an import from core/ into lambdas/', () => {
    const result = lint('core', importing('#lambdas/routes.ts'));
    expect(result.ok).toBe(false);
    expect(result.output).toContain('noRestrictedImports');
    expect(result.output).toContain('core/ is the pure domain');
  });

  it('fails a relative import from core/ into lambdas/ too', () => {
    expect(lint('core', importing('../lambdas/routes.ts')).ok).toBe(false);
  });

  it('fails the AWS SDK and Node APIs in core/', () => {
    expect(lint('core', importing('@aws-sdk/client-dynamodb')).ok).toBe(false);
    expect(lint('core', importing('node:fs')).ok).toBe(false);
  });

  it('passes an import of core/ from core/ (the check does not refuse everything)', () => {
    expect(lint('core', importing('./errors.ts'))).toMatchObject({ ok: true });
  });

  it('fails lambdas/ or local/ imported by the pilot or the CLI', () => {
    expect(lint('pilot', importing('#lambdas/routes.ts')).ok).toBe(false);
    expect(lint('pilot', importing('#local/stack.ts')).ok).toBe(false);
    expect(lint('cli', importing('#lambdas/runtime/deps.ts')).ok).toBe(false);
    expect(lint('cli', importing('#client/gluon-client.ts')).ok).toBe(true);
  });

  it('fails test/ imported by the benchmarks', () => {
    expect(lint('bench', importing('#test/support/e2e.ts')).ok).toBe(false);
    expect(lint('bench', importing('#local/stack.ts')).ok).toBe(true);
  });

  it('fails focused and skipped tests', () => {
    const focused = "import { it } from 'vitest';\nit.only('x', () => {});\n";
    const skipped = "import { it } from 'vitest';\nit.skip('x', () => {});\n";
    expect(lint('test/unit', focused, '.test.ts').ok).toBe(false);
    expect(lint('test/unit', skipped, '.test.ts').ok).toBe(false);
  });
});
