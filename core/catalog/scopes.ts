import { SCOPES } from '../api/common.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, ForbiddenError, ValidationError } from '../errors.ts';
import { type Did, didText, userScope } from './did.ts';
import type { ScopeRecord } from './ports.ts';

export function isCatalogAdmin(principal: Principal): boolean {
  return principal.scopes.includes(SCOPES.admin);
}

/**
 * Whether `sub` may write in `scope` (Rucio's scope ownership): its own `user.<sub>`, a scope an
 * operator made listing it as an owner; operators (`admin`) anywhere.
 */
export async function mayWriteScope(
  deps: Pick<Deps, 'catalog'>,
  who: { sub: string; admin: boolean },
  scope: string,
): Promise<boolean> {
  if (who.admin || scope === userScope(who.sub)) return true;
  const record = await deps.catalog.getScope(scope);
  return record?.owners.includes(who.sub) === true;
}

/** Refuses (403 naming `field`) a DID outside the caller's scopes; nothing is written before this. */
export async function assertMayWrite(
  deps: Pick<Deps, 'catalog'>,
  who: { sub: string; admin: boolean },
  did: Did,
  field: string,
): Promise<void> {
  if (await mayWriteScope(deps, who, did.scope)) return;
  throw new ForbiddenError(
    `${field}: ${didText(did)} is in scope ${did.scope}, where you may not write (yours is ${userScope(who.sub)})`,
  );
}

export function writerOf(principal: Principal): { sub: string; admin: boolean } {
  return { sub: principal.sub, admin: isCatalogAdmin(principal) };
}

/** Makes a scope with its owners (operators only; the route requires the admin scope). */
export async function createScope(
  deps: Pick<Deps, 'catalog' | 'clock'>,
  principal: Principal,
  request: { scope: string; owners: string[] },
): Promise<ScopeRecord> {
  // The route admits operators only; checked here too, as the write is theirs alone.
  if (!isCatalogAdmin(principal)) throw new ForbiddenError('only operators (gluon.admin) make scopes');
  if (request.scope.startsWith('user.')) {
    throw new ValidationError('invalid scope', [
      { field: 'scope', message: 'user.<name> scopes belong to their users and need no record' },
    ]);
  }
  const record: ScopeRecord = {
    scope: request.scope,
    owners: [...new Set(request.owners)],
    createdAt: deps.clock.now().toISOString(),
  };
  if (!(await deps.catalog.putScope(record))) throw new ConflictError(`scope ${request.scope} exists`);
  return record;
}

/** The scopes operators made, and the caller's own (which needs no record). */
export async function listScopes(
  deps: Pick<Deps, 'catalog'>,
  principal: Principal,
): Promise<{ own: string; items: ScopeRecord[] }> {
  return { own: userScope(principal.sub), items: await deps.catalog.listScopes() };
}
