import { z } from 'zod';
import { fieldIssues, ValidationError } from '../errors.ts';

/**
 * Shares between groups and users (PanDA's global shares, HTCondor's accounting groups): a tree of
 * groups, each with a share of its parent's, and users in leaf groups, each with a share of their
 * group's. Siblings' shares add up to 100. Users not named belong to the default group, sharing it
 * equally. Caps bound the jobs a user or group has in flight (queued in a site queue or running).
 */
const GroupNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, . _ - (at most 64)');

const CapSchema = z.number().int().min(0).max(10_000_000);

export const ShareTreeSchema = z.strictObject({
  /** Usage is decayed over this half-life: what a user ran an hour ago weighs half as much at 1 h. */
  halfLifeSec: z
    .number()
    .int()
    .min(60)
    .max(90 * 86_400)
    .default(86_400),
  /** Where users not named go. */
  defaultGroup: GroupNameSchema.default('default'),
  groups: z
    .array(
      z.strictObject({
        name: GroupNameSchema,
        /** The parent group; left out for a top-level group. */
        parent: GroupNameSchema.optional(),
        /** Percent of the parent's (siblings add up to 100). */
        share: z.number().gt(0).max(100),
        cap: CapSchema.optional(),
      }),
    )
    .max(1000)
    .default([]),
  users: z
    .array(
      z.strictObject({
        user: z.string().min(1).max(256),
        group: GroupNameSchema,
        /** Percent of the group's; left out, the group's users share what named users leave equally. */
        share: z.number().gt(0).max(100).optional(),
        cap: CapSchema.optional(),
      }),
    )
    .max(100_000)
    .default([]),
});
export type ShareTree = z.infer<typeof ShareTreeSchema>;
export type ShareTreeInput = z.input<typeof ShareTreeSchema>;

/** With no tree stored: one default group, every user an equal share of it. */
export const DEFAULT_SHARE_TREE: ShareTree = ShareTreeSchema.parse({
  groups: [{ name: 'default', share: 100 }],
});

const SHARE_SUM_TOLERANCE = 1e-6;

/**
 * Parses and checks a share tree: known parents, no cycle, sibling shares adding up to 100, users
 * only in leaf groups, nobody named twice. Errors name the field (`groups.2.parent`).
 */
export function parseShareTree(value: unknown, prefix = 'body'): ShareTree {
  const result = ShareTreeSchema.safeParse(value);
  if (!result.success)
    throw new ValidationError('invalid share tree', fieldIssues(result.error.issues, prefix));
  const tree = result.data;
  const issues: Array<{ field: string; message: string }> = [];
  const at = (...path: Array<string | number>) => [prefix, ...path].join('.');
  const byName = new Map<string, number>();
  tree.groups.forEach((g, i) => {
    if (byName.has(g.name))
      issues.push({ field: at('groups', i, 'name'), message: `group ${g.name} is named twice` });
    else byName.set(g.name, i);
  });
  tree.groups.forEach((g, i) => {
    if (g.parent !== undefined && !byName.has(g.parent))
      issues.push({ field: at('groups', i, 'parent'), message: `no group ${g.parent}` });
  });
  // A cycle: following parents from a group comes back to it.
  tree.groups.forEach((g, i) => {
    const seen = new Set<string>([g.name]);
    let parent = g.parent;
    while (parent !== undefined) {
      if (seen.has(parent)) {
        if (parent === g.name)
          issues.push({
            field: at('groups', i, 'parent'),
            message: `group ${g.name} is its own ancestor (a cycle)`,
          });
        return;
      }
      seen.add(parent);
      parent = tree.groups[byName.get(parent) ?? -1]?.parent;
    }
  });
  if (!byName.has(tree.defaultGroup))
    issues.push({ field: at('defaultGroup'), message: `no group ${tree.defaultGroup}` });
  if (issues.length > 0) throw new ValidationError('invalid share tree', issues);

  const siblings = new Map<string, number>();
  for (const g of tree.groups) siblings.set(g.parent ?? '', (siblings.get(g.parent ?? '') ?? 0) + g.share);
  for (const [parent, sum] of siblings) {
    if (Math.abs(sum - 100) > SHARE_SUM_TOLERANCE) {
      const first = tree.groups.findIndex((g) => (g.parent ?? '') === parent);
      issues.push({
        field: at('groups', first, 'share'),
        message: `shares of the groups under ${parent === '' ? 'the top' : parent} add up to ${sum}, not 100`,
      });
    }
  }
  const parents = new Set(tree.groups.flatMap((g) => (g.parent === undefined ? [] : [g.parent])));
  if (parents.has(tree.defaultGroup))
    issues.push({
      field: at('defaultGroup'),
      message: `${tree.defaultGroup} has subgroups: users go in leaf groups`,
    });
  const users = new Set<string>();
  const userShares = new Map<string, number>();
  tree.users.forEach((u, i) => {
    if (users.has(u.user))
      issues.push({ field: at('users', i, 'user'), message: `user ${u.user} is named twice` });
    users.add(u.user);
    if (!byName.has(u.group)) issues.push({ field: at('users', i, 'group'), message: `no group ${u.group}` });
    else if (parents.has(u.group))
      issues.push({
        field: at('users', i, 'group'),
        message: `${u.group} has subgroups: users go in leaf groups`,
      });
    if (u.share !== undefined) userShares.set(u.group, (userShares.get(u.group) ?? 0) + u.share);
  });
  for (const [group, sum] of userShares) {
    if (sum > 100 + SHARE_SUM_TOLERANCE) {
      const first = tree.users.findIndex((u) => u.group === group && u.share !== undefined);
      issues.push({
        field: at('users', first, 'share'),
        message: `shares of the users of ${group} add up to ${sum}, more than 100`,
      });
    }
  }
  if (issues.length > 0) throw new ValidationError('invalid share tree', issues);
  return tree;
}

/** A decayed quantity: its value at `at` (epoch ms), halving every half-life since. */
export interface Decayed {
  value: number;
  at: number;
}

export function decayedValue(usage: Decayed | undefined, now: number, halfLifeSec: number): number {
  if (usage === undefined) return 0;
  const elapsedSec = Math.max(0, now - usage.at) / 1000;
  return usage.value * 2 ** (-elapsedSec / halfLifeSec);
}

/** Usage keys: a user's, a group's. */
export const usageKey = {
  user: (user: string) => `user#${user}`,
  group: (group: string) => `group#${group}`,
};
