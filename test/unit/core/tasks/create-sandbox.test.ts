import { describe, expect, it } from 'vitest';
import { createSandbox } from '#core/tasks/create-sandbox.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';
import { alice, bob } from '../scenario.ts';

const sha = 'a'.repeat(64);
const file = { name: 'run.sh', sha256: sha, bytes: 120 };

describe('createSandbox', () => {
  it("gives each file an upload URL at a key of its content under the owner's hex-encoded subject", async () => {
    const deps = inMemoryDeps();
    const { files } = await createSandbox(deps, alice, { files: [file] });
    // 'alice' in hex
    const key = `sandboxes/616c696365/${sha}/run.sh`;
    expect(files).toEqual([{ ...file, key, uploadUrl: `memory://gluon-test/${key}?expiresIn=900` }]);
    expect(deps.objects.presigned).toEqual([{ key, expiresInSec: 900 }]);
  });

  it('gives the same file of the same owner the same key, and another owner another', async () => {
    const deps = inMemoryDeps();
    const [first] = (await createSandbox(deps, alice, { files: [file] })).files;
    const [again] = (await createSandbox(deps, alice, { files: [file] })).files;
    const [other] = (await createSandbox(deps, bob, { files: [file] })).files;
    expect(again?.key).toBe(first?.key);
    expect(other?.key).not.toBe(first?.key);
  });

  it('turns any subject into a safe key segment', async () => {
    const deps = inMemoryDeps();
    const { files } = await createSandbox(deps, { sub: 'CN=Jane Doe/O=CERN', scopes: [] }, { files: [file] });
    expect(files[0]?.key).toMatch(/^sandboxes\/[0-9a-f]+\/a{64}\/run\.sh$/);
  });
});
