import type { Clock } from '../deps.ts';
import type { RetryPolicyStore, RetryPolicyVersion } from './ports.ts';

/**
 * The store, with `current({ cached: true })` answered from memory for `maxAgeSec`: a function
 * deciding many failures at once (the reaper settling a lost site's jobs) reads the rules once,
 * and a change of the rules reaches every function within `maxAgeSec`, without a redeploy or a
 * restart. Every other read goes to the store. 0 turns the cache off.
 */
export function cachedRetryPolicies(
  store: RetryPolicyStore,
  clock: Clock,
  maxAgeSec: number,
): RetryPolicyStore {
  let cached: { at: number; value: Promise<RetryPolicyVersion | undefined> } | undefined;
  return {
    current(options) {
      if (options?.cached !== true || maxAgeSec <= 0) return store.current();
      const now = clock.now().getTime();
      if (cached === undefined || now - cached.at >= maxAgeSec * 1000) {
        const value = store.current();
        const entry = { at: now, value };
        cached = entry;
        // A failed read is not kept: the next failure reads again.
        value.catch(() => {
          if (cached === entry) cached = undefined;
        });
      }
      return cached.value;
    },
    get: (version) => store.get(version),
    list: (page) => store.list(page),
    create: (policy) => store.create(policy),
  };
}
