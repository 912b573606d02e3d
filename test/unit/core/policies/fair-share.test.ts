import { describe, expect, it } from 'vitest';
import { type DispatchCandidate, fairShareOrder, groupPath, usageKeysOf } from '#core/policies/fair-share.ts';
import {
  DEFAULT_SHARE_TREE,
  decayedValue,
  parseShareTree,
  type ShareTreeInput,
} from '#core/policies/shares.ts';
import { fieldsOf, issuesOf } from '../validation-issues.ts';

const task = (taskId: string, owner: string, remaining: number, extra: Partial<DispatchCandidate> = {}) => ({
  taskId,
  owner,
  priority: 500,
  createdAt: '2026-12-01T00:00:00.000Z',
  remaining,
  cores: 1,
  ...extra,
});

/** The order of one call, expanded to one task id per place. */
function order(input: Parameters<typeof fairShareOrder>[0]): string[] {
  return fairShareOrder(input).allocations.flatMap((a) => Array<string>(a.count).fill(a.taskId));
}

const TWO_GROUPS: ShareTreeInput = {
  groups: [
    { name: 'atlas', share: 75 },
    { name: 'cms', share: 25 },
  ],
  users: [
    { user: 'alice', group: 'atlas' },
    { user: 'bob', group: 'cms' },
  ],
  defaultGroup: 'atlas',
};

describe('parseShareTree', () => {
  it.each<[string, ShareTreeInput, string[]]>([
    [
      'a parent that does not exist',
      {
        groups: [
          { name: 'a', share: 100 },
          { name: 'b', parent: 'x', share: 100 },
        ],
        defaultGroup: 'a',
      },
      ['body.groups.1.parent'],
    ],
    [
      'a cycle',
      {
        groups: [
          { name: 'top', share: 100 },
          { name: 'a', parent: 'b', share: 100 },
          { name: 'b', parent: 'a', share: 100 },
        ],
        defaultGroup: 'top',
      },
      ['body.groups.1.parent', 'body.groups.2.parent'],
    ],
    [
      'a group its own parent',
      { groups: [{ name: 'a', parent: 'a', share: 100 }], defaultGroup: 'a' },
      ['body.groups.0.parent'],
    ],
    [
      'top shares not adding up',
      {
        groups: [
          { name: 'a', share: 60 },
          { name: 'b', share: 30 },
        ],
        defaultGroup: 'a',
      },
      ['body.groups.0.share'],
    ],
    [
      'subgroup shares not adding up',
      {
        groups: [
          { name: 'a', share: 100 },
          { name: 'a1', parent: 'a', share: 50 },
          { name: 'a2', parent: 'a', share: 20 },
        ],
        defaultGroup: 'a1',
      },
      ['body.groups.1.share'],
    ],
    [
      'a user share over 100',
      {
        groups: [{ name: 'a', share: 100 }],
        users: [
          { user: 'u', group: 'a', share: 70 },
          { user: 'v', group: 'a', share: 40 },
        ],
        defaultGroup: 'a',
      },
      ['body.users.0.share'],
    ],
    [
      'a user in a group with subgroups',
      {
        groups: [
          { name: 'a', share: 100 },
          { name: 'a1', parent: 'a', share: 100 },
        ],
        users: [{ user: 'u', group: 'a' }],
        defaultGroup: 'a1',
      },
      ['body.users.0.group'],
    ],
    [
      'a user named twice',
      {
        groups: [{ name: 'a', share: 100 }],
        users: [
          { user: 'u', group: 'a' },
          { user: 'u', group: 'a' },
        ],
        defaultGroup: 'a',
      },
      ['body.users.1.user'],
    ],
    [
      'an unknown default group',
      { groups: [{ name: 'a', share: 100 }], defaultGroup: 'zzz' },
      ['body.defaultGroup'],
    ],
    ['a share of 0', { groups: [{ name: 'a', share: 0 }], defaultGroup: 'a' }, ['body.groups.0.share']],
    [
      'a negative cap',
      { groups: [{ name: 'a', share: 100, cap: -1 }], defaultGroup: 'a' },
      ['body.groups.0.cap'],
    ],
    [
      'a half-life under a minute',
      { halfLifeSec: 5, groups: [{ name: 'a', share: 100 }], defaultGroup: 'a' },
      ['body.halfLifeSec'],
    ],
  ])('refuses %s, naming the field', (_what, input, fields) => {
    expect(fieldsOf(() => parseShareTree(input))).toEqual(fields);
  });

  it('says what does not add up', () => {
    const [issue] = issuesOf(() =>
      parseShareTree({
        groups: [
          { name: 'a', share: 60 },
          { name: 'b', share: 30 },
        ],
        defaultGroup: 'a',
      }),
    );
    expect(issue?.message).toBe('shares of the groups under the top add up to 90, not 100');
  });

  it('takes a tree of groups and users, with the defaults filled', () => {
    const tree = parseShareTree(TWO_GROUPS);
    expect(tree.halfLifeSec).toBe(86_400);
    expect(groupPath(tree, 'alice')).toEqual(['atlas']);
    expect(groupPath(tree, 'someone-else')).toEqual(['atlas']);
    expect(usageKeysOf(tree, 'bob')).toEqual(['user#bob', 'group#cms']);
  });

  it('walks a nested tree from the top', () => {
    const tree = parseShareTree({
      groups: [
        { name: 'atlas', share: 100 },
        { name: 'atlas-higgs', parent: 'atlas', share: 40 },
        { name: 'atlas-top', parent: 'atlas', share: 60 },
      ],
      users: [{ user: 'carol', group: 'atlas-higgs' }],
      defaultGroup: 'atlas-top',
    });
    expect(groupPath(tree, 'carol')).toEqual(['atlas', 'atlas-higgs']);
    expect(groupPath(tree, 'dave')).toEqual(['atlas', 'atlas-top']);
  });
});

describe('decayedValue', () => {
  it.each([
    [0, 100],
    [3600, 50],
    [7200, 25],
    [1800, 100 / Math.SQRT2],
  ])('after %i s of a one-hour half-life, 100 is %d', (elapsedSec, expected) => {
    expect(decayedValue({ value: 100, at: 0 }, elapsedSec * 1000, 3600)).toBeCloseTo(expected, 9);
  });

  it('is 0 for no usage', () => {
    expect(decayedValue(undefined, 1000, 3600)).toBe(0);
  });
});

describe('fairShareOrder', () => {
  it('alternates between two users of equal share, whatever their task sizes', () => {
    const places = order({
      tree: DEFAULT_SHARE_TREE,
      candidates: [task('big', 'heavy', 200), task('small', 'light', 20)],
      room: 6,
      usage: new Map(),
      inFlight: new Map(),
    });
    expect(places).toEqual(['big', 'small', 'big', 'small', 'big', 'small']);
  });

  it('lets a light user go first while a heavy user has used much more', () => {
    const places = order({
      tree: DEFAULT_SHARE_TREE,
      candidates: [task('big', 'heavy', 200), task('small', 'light', 20)],
      room: 5,
      usage: new Map([['user#heavy', 1000]]),
      inFlight: new Map(),
    });
    expect(places).toEqual(['small', 'small', 'small', 'small', 'small']);
  });

  it('gives groups places in proportion to their shares', () => {
    const tree = parseShareTree(TWO_GROUPS);
    const places = order({
      tree,
      candidates: [task('a', 'alice', 1000), task('b', 'bob', 1000)],
      room: 400,
      usage: new Map(),
      inFlight: new Map(),
    });
    expect(places.filter((t) => t === 'a')).toHaveLength(300);
    expect(places.filter((t) => t === 'b')).toHaveLength(100);
  });

  it('counts usage in cores: a user of 4-core jobs gets a quarter of the jobs of a 1-core user', () => {
    const places = order({
      tree: DEFAULT_SHARE_TREE,
      candidates: [task('mc', 'mcore', 100, { cores: 4 }), task('sc', 'score', 100)],
      room: 50,
      usage: new Map(),
      inFlight: new Map(),
    });
    expect(places.filter((t) => t === 'mc')).toHaveLength(10);
    expect(places.filter((t) => t === 'sc')).toHaveLength(40);
  });

  it("orders a user's own tasks by priority, then age", () => {
    const places = order({
      tree: DEFAULT_SHARE_TREE,
      candidates: [
        task('old', 'u', 2, { createdAt: '2026-12-01T00:00:00.000Z' }),
        task('urgent', 'u', 2, { priority: 900, createdAt: '2026-12-01T05:00:00.000Z' }),
        task('new', 'u', 2, { createdAt: '2026-12-01T01:00:00.000Z' }),
      ],
      room: 6,
      usage: new Map(),
      inFlight: new Map(),
    });
    expect(places).toEqual(['urgent', 'urgent', 'old', 'old', 'new', 'new']);
  });

  it('holds a user at their cap and gives the places to others', () => {
    const tree = parseShareTree({
      ...TWO_GROUPS,
      users: [
        { user: 'alice', group: 'atlas', cap: 3 },
        { user: 'bob', group: 'cms' },
      ],
    });
    const result = fairShareOrder({
      tree,
      candidates: [task('a', 'alice', 100), task('b', 'bob', 100)],
      room: 10,
      usage: new Map(),
      inFlight: new Map([['user#alice', 1]]),
    });
    const places = result.allocations.flatMap((a) => Array<string>(a.count).fill(a.taskId));
    expect(places.filter((t) => t === 'a')).toHaveLength(2);
    expect(places.filter((t) => t === 'b')).toHaveLength(8);
    expect(result.held).toEqual([{ key: 'user#alice', reason: 'cap', cap: 3 }]);
  });

  it('holds a whole group at its cap', () => {
    const tree = parseShareTree({
      groups: [
        { name: 'atlas', share: 50, cap: 4 },
        { name: 'cms', share: 50 },
      ],
      users: [
        { user: 'alice', group: 'atlas' },
        { user: 'bob', group: 'cms' },
        { user: 'carl', group: 'atlas' },
      ],
      defaultGroup: 'cms',
    });
    const places = order({
      tree,
      candidates: [task('a', 'alice', 100), task('c', 'carl', 100), task('b', 'bob', 100)],
      room: 12,
      usage: new Map(),
      inFlight: new Map(),
    });
    expect(places.filter((t) => t !== 'b')).toHaveLength(4);
    expect(places.filter((t) => t === 'b')).toHaveLength(8);
  });

  it('stops when no task has work left, and moves usage and jobs in flight by what it chose', () => {
    const usage = new Map<string, number>();
    const inFlight = new Map<string, number>();
    const places = order({
      tree: DEFAULT_SHARE_TREE,
      candidates: [task('t', 'u', 3, { cores: 2 })],
      room: 10,
      usage,
      inFlight,
    });
    expect(places).toEqual(['t', 't', 't']);
    expect(usage.get('user#u')).toBe(6);
    expect(usage.get('group#default')).toBe(6);
    expect(inFlight.get('user#u')).toBe(3);
  });

  it('carries usage from one site to the next through the same maps', () => {
    const usage = new Map<string, number>();
    const inFlight = new Map<string, number>();
    const candidates = [task('x', 'x', 100), task('y', 'y', 100)];
    const first = order({ tree: DEFAULT_SHARE_TREE, candidates, room: 1, usage, inFlight });
    const second = order({ tree: DEFAULT_SHARE_TREE, candidates, room: 1, usage, inFlight });
    expect([...first, ...second].sort()).toEqual(['x', 'y']);
  });

  it('leaves a user without work out, and returns nothing for no room', () => {
    expect(
      order({
        tree: DEFAULT_SHARE_TREE,
        candidates: [task('t', 'u', 0)],
        room: 5,
        usage: new Map(),
        inFlight: new Map(),
      }),
    ).toEqual([]);
    expect(
      order({
        tree: DEFAULT_SHARE_TREE,
        candidates: [task('t', 'u', 5)],
        room: 0,
        usage: new Map(),
        inFlight: new Map(),
      }),
    ).toEqual([]);
  });
});
