import type { Page, PageRequest } from '../api/common.ts';
import type { RetryPolicySummary, RetryPolicyView } from '../api/retry-policy.ts';
import type { Deps, Principal } from '../deps.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { RetryPolicyVersion } from './ports.ts';
import { DEFAULT_RETRY_RULES, type RetryRuleSet } from './retry-rules.ts';

/** The built-in rules, as the version used when none was ever stored. */
const BUILT_IN: Omit<RetryPolicyVersion, 'createdAt' | 'createdBy'> = {
  version: 0,
  ruleSet: DEFAULT_RETRY_RULES,
};

/** Tries of a change that lost the race for its version number to another change. */
const CREATE_TRIES = 3;

/** The rules that decide a failure now: the current version (from the store's short cache), or the built-in ones. */
export async function currentRetryRules(deps: Pick<Deps, 'retryPolicies'>): Promise<RetryRuleSet> {
  return (await deps.retryPolicies.current({ cached: true }))?.ruleSet ?? DEFAULT_RETRY_RULES;
}

/** The current version (strongly consistent), or the built-in rules as version 0. */
export async function currentRetryPolicy(
  deps: Pick<Deps, 'retryPolicies'>,
): Promise<Pick<RetryPolicyVersion, 'version' | 'ruleSet'> & Partial<RetryPolicyVersion>> {
  return (await deps.retryPolicies.current()) ?? BUILT_IN;
}

function view(
  policy: Partial<RetryPolicyVersion> & typeof BUILT_IN,
  currentVersion: number,
): RetryPolicyView {
  return {
    version: policy.version,
    current: policy.version === currentVersion,
    ...(policy.createdAt === undefined ? {} : { createdAt: policy.createdAt }),
    ...(policy.createdBy === undefined ? {} : { createdBy: policy.createdBy }),
    ruleSet: policy.ruleSet,
  };
}

/** GET /retry-policy: the current rules, or the version asked for (0: the built-in rules). */
export async function getRetryPolicy(
  deps: Pick<Deps, 'retryPolicies'>,
  version: number | undefined,
): Promise<RetryPolicyView> {
  const current = await currentRetryPolicy(deps);
  if (version === undefined || version === current.version) return view(current, current.version);
  const policy = version === 0 ? BUILT_IN : await deps.retryPolicies.get(version);
  if (policy === undefined) throw new NotFoundError(`retry policy version ${version} not found`);
  return view(policy, current.version);
}

/** GET /retry-policy/versions: newest first; the built-in rules (version 0) close the list. */
export async function listRetryPolicyVersions(
  deps: Pick<Deps, 'retryPolicies'>,
  page: PageRequest,
): Promise<Page<RetryPolicySummary>> {
  const [current, stored] = await Promise.all([currentRetryPolicy(deps), deps.retryPolicies.list(page)]);
  const versions = stored.nextToken === undefined ? [...stored.items, BUILT_IN] : stored.items;
  return {
    items: versions.map((policy) => {
      const { ruleSet, ...rest } = view(policy, current.version);
      return {
        ...rest,
        ...(ruleSet.description === undefined ? {} : { description: ruleSet.description }),
        rules: ruleSet.rules.length,
      };
    }),
    ...(stored.nextToken === undefined ? {} : { nextToken: stored.nextToken }),
  };
}

/**
 * PUT /retry-policy: the rules become the next version, immutable, and current. The write is
 * conditional on the version before, so two changes at once cannot both become version N: the
 * one that lost takes the next number (the later is current), after a few tries a 409.
 */
export async function putRetryPolicy(
  deps: Pick<Deps, 'retryPolicies' | 'clock'>,
  principal: Principal,
  ruleSet: RetryRuleSet,
): Promise<RetryPolicyView> {
  for (let tries = 0; tries < CREATE_TRIES; tries++) {
    const before = await deps.retryPolicies.current();
    const policy: RetryPolicyVersion = {
      version: (before?.version ?? 0) + 1,
      ruleSet,
      createdAt: deps.clock.now().toISOString(),
      createdBy: principal.sub,
    };
    if ((await deps.retryPolicies.create(policy)) === 'ok') return view(policy, policy.version);
  }
  throw new ConflictError('the retry rules are being changed by someone else right now; try again');
}
