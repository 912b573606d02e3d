import type { AccountingQuery, AccountingView } from '../api/accounting.ts';
import { SCOPES } from '../api/common.ts';
import type { Deps, Principal } from '../deps.ts';
import { ForbiddenError, ValidationError } from '../errors.ts';
import { addDays, dayOf, daysBetween, type RollupRow, roundUsd } from './usage.ts';

/** The longest range one request reads (a year, leap day included). */
export const MAX_ACCOUNTING_DAYS = 366;
/** Days shown when no `from` is given: the week up to `to`. */
const DEFAULT_DAYS = 7;

/**
 * Roll-ups of the days `from`..`to` by user, group or site. Operators (gluon.admin) see every
 * row; a user sees only their own usage (by=user, their own rows), and asking for groups or sites is
 * refused naming `by`. `from` after `to`, or a range over MAX_ACCOUNTING_DAYS, is a 400 naming `from`.
 * Rows with a cost (attempts at paid sites) carry `usdPerJob`: the cost over the finished attempts.
 */
export async function readAccounting(
  deps: Pick<Deps, 'accounting' | 'clock'>,
  principal: Principal,
  query: AccountingQuery,
): Promise<AccountingView> {
  const to = query.to ?? dayOf(deps.clock.now());
  const from = query.from ?? addDays(to, -(DEFAULT_DAYS - 1));
  if (from > to) {
    throw new ValidationError('invalid accounting range', [
      { field: 'from', message: `${from} is after to (${to})` },
    ]);
  }
  if (daysBetween(from, to) > MAX_ACCOUNTING_DAYS) {
    throw new ValidationError('invalid accounting range', [
      { field: 'from', message: `the range ${from}..${to} is over ${MAX_ACCOUNTING_DAYS} days` },
    ]);
  }
  const admin = principal.scopes.includes(SCOPES.admin);
  if (!admin && query.by !== 'user') {
    throw new ForbiddenError(
      `by: accounting by ${query.by} needs the ${SCOPES.admin} scope; users see their own usage (by=user)`,
    );
  }
  const rows = await deps.accounting.rollups(query.by, {
    from,
    to,
    ...(admin ? {} : { key: principal.sub }),
  });
  return { by: query.by, from, to, rows: rows.map(withUsdPerJob) };
}

/** A row with a cost gets its dollars per finished job (none when no attempt finished). */
export function withUsdPerJob(row: RollupRow): AccountingView['rows'][number] {
  return row.costUsd === undefined || row.finished === 0
    ? row
    : { ...row, usdPerJob: roundUsd(row.costUsd / row.finished) };
}
