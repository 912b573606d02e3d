import { type Page, type PageRequest, SCOPES } from '../api/common.ts';
import type { Replica, StorageEndpoint } from '../catalog/catalog.ts';
import { type Did, didText, parseDid, userScope } from '../catalog/did.ts';
import type { CatalogStore } from '../catalog/ports.ts';
import type { Clock, Principal } from '../deps.ts';
import { type FieldIssue, ForbiddenError, NotFoundError, ValidationError } from '../errors.ts';
import type { RuleStore, TransferQueue, TransferSettings } from './ports.ts';
import {
  countLocks,
  type Lock,
  placeReplicas,
  type Rule,
  type RuleRequest,
  RuleRequestSchema,
  replicaKey,
  settledState,
  transferMessageOf,
} from './rule.ts';

export interface RuleIds {
  ruleId(): string;
}

export interface RuleDeps {
  catalog: CatalogStore;
  rules: RuleStore;
  transferQueue: TransferQueue;
  transfers: TransferSettings;
  ruleIds: RuleIds;
  clock: Clock;
}

/** Files read (and replicas asked for) per catalog call while a rule is made. */
const FILE_PAGE = 1000;
const REPLICA_BATCH = 100;

/** Admins write anywhere; others in their own `user.<name>` scope and in scopes that name them owners. */
async function mayWriteScope(
  catalog: Pick<CatalogStore, 'getScope'>,
  principal: Principal,
  scope: string,
): Promise<boolean> {
  if (principal.scopes.includes(SCOPES.admin)) return true;
  if (scope === userScope(principal.sub)) return true;
  const record = await catalog.getScope(scope);
  return record?.owners.includes(principal.sub) ?? false;
}

/** Every file a DID stands for: the files of a dataset, or the file itself. */
async function filesOf(
  catalog: CatalogStore,
  did: Did,
): Promise<
  | {
      type: 'dataset' | 'file';
      files: Array<{ scope: string; name: string; bytes: number; adler32: string }>;
    }
  | undefined
> {
  const dataset = await catalog.getDataset(did);
  if (dataset !== undefined) {
    const files: Array<{ scope: string; name: string; bytes: number; adler32: string }> = [];
    let nextToken: string | undefined;
    do {
      const page = await catalog.listFiles(did, { limit: FILE_PAGE, ...(nextToken ? { nextToken } : {}) });
      files.push(
        ...page.items.map((f) => ({ scope: f.scope, name: f.name, bytes: f.bytes, adler32: f.adler32 })),
      );
      nextToken = page.items.length > 0 ? page.nextToken : undefined;
    } while (nextToken !== undefined);
    return { type: 'dataset', files };
  }
  const file = await catalog.getFile(did);
  if (file === undefined) return undefined;
  return {
    type: 'file',
    files: [{ scope: file.scope, name: file.name, bytes: file.bytes, adler32: file.adler32 }],
  };
}

async function replicasOfAll(catalog: CatalogStore, files: Did[]): Promise<Map<string, Replica[]>> {
  const all = new Map<string, Replica[]>();
  for (let i = 0; i < files.length; i += REPLICA_BATCH) {
    for (const [key, replicas] of await catalog.replicasOf(files.slice(i, i + REPLICA_BATCH)))
      all.set(key, replicas);
  }
  return all;
}

/**
 * Checks a rule request (nothing is written on bad input): copies ≤ endpoints (400 `copies`),
 * every endpoint known, an S3 endpoint and writable (400 `endpoints`), the caller a writer of the
 * DID's scope (403 `did`) unless `system` (a task's precondition, made for a reader), the DID
 * known (404).
 */
async function checkRequest(
  deps: Pick<RuleDeps, 'catalog' | 'transfers'>,
  principal: Principal,
  request: ReturnType<typeof RuleRequestSchema.parse>,
  system: boolean,
): Promise<Map<string, StorageEndpoint>> {
  const issues: FieldIssue[] = [];
  if (request.copies > request.endpoints.length) {
    issues.push({
      field: 'copies',
      message: `${request.copies} copies asked for on ${request.endpoints.length} endpoint(s): at most one copy per endpoint`,
    });
  }
  const endpoints = new Map<string, StorageEndpoint>();
  for (const endpointId of request.endpoints) {
    const endpoint = await deps.catalog.getEndpoint(endpointId);
    if (endpoint === undefined)
      issues.push({ field: 'endpoints', message: `no storage endpoint ${endpointId}` });
    else if (!endpoint.writable)
      issues.push({ field: 'endpoints', message: `${endpointId} is not writable` });
    else if (endpoint.kind !== 's3' || endpoint.bucket === undefined)
      issues.push({
        field: 'endpoints',
        message: `${endpointId} is not an S3 endpoint: the transfer service copies between buckets`,
      });
    else endpoints.set(endpointId, endpoint);
  }
  if (issues.length > 0) throw new ValidationError('invalid rule', issues);
  const did = parseDid(request.did);
  if (!system && !(await mayWriteScope(deps.catalog, principal, did.scope))) {
    throw new ForbiddenError(
      `did: ${request.did} is outside your scopes (rules are made by a scope's writers)`,
    );
  }
  return endpoints;
}

/**
 * Makes a rule: for each file, the endpoints of the rule already holding an available replica
 * count; the missing copies become locks `copying` at the other endpoints (their replicas are
 * written `copying`), and one transfer message each is sent. A rule with nothing to copy is `ok`.
 * With `ruleId` (a task's precondition) an existing rule of that id is answered as it is.
 */
export async function createRule(
  deps: RuleDeps,
  principal: Principal,
  input: RuleRequest,
  options: { ruleId?: string; taskId?: string; system?: boolean } = {},
): Promise<Rule> {
  const parsed = RuleRequestSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(
      'invalid rule',
      parsed.error.issues.map((i) => ({
        field: i.path.map(String).join('.') || '(root)',
        message: i.message,
      })),
    );
  }
  const request = parsed.data;
  if (options.ruleId !== undefined) {
    const existing = await deps.rules.getRule(options.ruleId);
    if (existing !== undefined) return existing;
  }
  const endpoints = await checkRequest(deps, principal, request, options.system ?? false);
  const did = parseDid(request.did);
  const content = await filesOf(deps.catalog, did);
  if (content === undefined) throw new NotFoundError(`did: no dataset or file ${request.did}`);

  const now = deps.clock.now();
  const at = now.toISOString();
  const ruleId = options.ruleId ?? deps.ruleIds.ruleId();
  const replicas = await replicasOfAll(deps.catalog, content.files);
  const locks: Lock[] = [];
  for (const file of content.files) {
    const { held, targets } = placeReplicas(
      request.endpoints,
      request.copies,
      replicas.get(didText(file)) ?? [],
    );
    const base = {
      ruleId,
      scope: file.scope,
      name: file.name,
      bytes: file.bytes,
      adler32: file.adler32,
      updatedAt: at,
    };
    for (const endpointId of held) locks.push({ ...base, endpointId, state: 'available', attempt: 0 });
    for (const endpointId of targets) locks.push({ ...base, endpointId, state: 'copying', attempt: 1 });
  }
  const counters = countLocks(content.files.length, locks);
  const rule: Rule = {
    ruleId,
    owner: principal.sub,
    did: request.did,
    didType: content.type,
    copies: request.copies,
    endpoints: request.endpoints,
    state: 'replicating',
    counters,
    ...(options.taskId === undefined ? {} : { taskId: options.taskId }),
    createdAt: at,
    updatedAt: at,
    ...(request.lifetimeSec === undefined
      ? {}
      : { expiresAt: new Date(now.getTime() + request.lifetimeSec * 1000).toISOString() }),
  };
  rule.state = settledState(rule);
  if (!(await deps.rules.createRule(rule, locks))) {
    // Made meanwhile by another call with the same id (a precondition's retry).
    const existing = await deps.rules.getRule(ruleId);
    if (existing !== undefined) return existing;
  }
  const copying = locks.filter((l) => l.state === 'copying');
  for (const lock of copying) {
    const endpoint = endpoints.get(lock.endpointId) as StorageEndpoint;
    // The destination replica is being written; one left corrupt or unavailable is written again.
    await deps.catalog.putReplica(
      {
        scope: lock.scope,
        name: lock.name,
        endpointId: lock.endpointId,
        state: 'copying',
        url: `s3://${endpoint.bucket}/${replicaKey(endpoint.prefix, lock.scope, lock.name)}`,
        updatedAt: at,
      },
      ['absent', 'corrupt', 'unavailable'],
    );
  }
  for (let i = 0; i < copying.length; i += 10) {
    await deps.transferQueue.send(copying.slice(i, i + 10).map(transferMessageOf));
  }
  return rule;
}

function isAdmin(principal: Principal): boolean {
  return principal.scopes.includes(SCOPES.admin);
}

/** A rule the caller may see (theirs; admins any); another user's is reported missing. */
export async function getRule(
  deps: Pick<RuleDeps, 'rules'>,
  principal: Principal,
  ruleId: string,
): Promise<Rule> {
  const rule = await deps.rules.getRule(ruleId);
  if (rule === undefined || (rule.owner !== principal.sub && !isAdmin(principal))) {
    throw new NotFoundError(`rule ${ruleId} not found`);
  }
  return rule;
}

/** The caller's rules (admins: everyone's), of one DID when given, newest first. */
export async function listRules(
  deps: Pick<RuleDeps, 'rules'>,
  principal: Principal,
  query: PageRequest & { did?: string | undefined },
): Promise<Page<Rule>> {
  const { did, ...page } = query;
  return deps.rules.listRules(
    { ...(isAdmin(principal) ? {} : { owner: principal.sub }), ...(did === undefined ? {} : { did }) },
    page,
  );
}

/** Stops a rule: its pending transfers become no-ops; the replicas made stay. */
export async function removeRule(
  deps: Pick<RuleDeps, 'rules' | 'clock'>,
  principal: Principal,
  ruleId: string,
): Promise<Rule> {
  const rule = await getRule(deps, principal, ruleId);
  if (rule.state !== 'deleted') await deps.rules.deleteRule(ruleId, deps.clock.now().toISOString());
  return (await deps.rules.getRule(ruleId)) ?? rule;
}
