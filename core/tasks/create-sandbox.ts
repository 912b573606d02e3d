import { SandboxRequestSchema, type SandboxResponse } from '../api/contract.ts';
import type { Deps, Principal } from '../deps.ts';
import { fieldIssues, ValidationError } from '../errors.ts';

const UPLOAD_URL_TTL_SEC = 900;

/**
 * Upload URLs for a task's sandbox files. Keys are content-addressed per owner, so the same file
 * is stored once however often it is submitted.
 */
export async function createSandbox(
  deps: Pick<Deps, 'objects'>,
  principal: Principal,
  body: unknown,
): Promise<SandboxResponse> {
  const parsed = SandboxRequestSchema.safeParse(body);
  if (!parsed.success) throw new ValidationError('invalid sandbox request', fieldIssues(parsed.error.issues));
  // The owner's subject, hex-encoded: any subject becomes a safe key segment.
  const owner = Array.from(new TextEncoder().encode(principal.sub), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
  const files = await Promise.all(
    parsed.data.files.map(async (file) => {
      const key = `sandboxes/${owner}/${file.sha256}/${file.name}`;
      return { ...file, key, uploadUrl: await deps.objects.presignPut(key, UPLOAD_URL_TTL_SEC) };
    }),
  );
  return { files };
}
