import type { SandboxRequest, SandboxResponse } from '../api/tasks.ts';
import type { Deps, Principal } from '../deps.ts';
import { sandboxKey } from '../storage/object-keys.ts';

const UPLOAD_URL_TTL_SEC = 900;

/**
 * Upload URLs for a task's sandbox files. Keys are content-addressed per owner, so the same file
 * is stored once however often it is submitted.
 */
export async function createSandbox(
  deps: Pick<Deps, 'objects'>,
  principal: Principal,
  request: SandboxRequest,
): Promise<SandboxResponse> {
  // The owner's subject, hex-encoded: any subject becomes a safe key segment.
  const owner = Array.from(new TextEncoder().encode(principal.sub), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
  const files = await Promise.all(
    request.files.map(async (file) => {
      const key = sandboxKey(owner, file.sha256, file.name);
      return { ...file, key, uploadUrl: await deps.objects.presignPut(key, UPLOAD_URL_TTL_SEC) };
    }),
  );
  return { files };
}
