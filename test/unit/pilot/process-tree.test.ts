import { describe, expect, it } from 'vitest';
import { parseTimesOutput } from '#pilot/payload-runner.ts';
import { type ProcessInfo, parseProcStat, payloadProcesses } from '#pilot/process-tree.ts';

describe('parseProcStat', () => {
  it('reads pid, ppid, group, state and CPU seconds, even with spaces and parentheses in the name', () => {
    const line =
      '4242 (my (odd) prog) S 4200 4242 4242 0 -1 4194304 1000 0 0 0 150 50 3 1 20 0 1 0 12345 1000000 512 18446744073709551615';
    expect(parseProcStat(line)).toEqual({ pid: 4242, ppid: 4200, pgid: 4242, state: 'S', cpuSec: 2 });
  });

  it('returns undefined for text that is not a stat line', () => {
    expect(parseProcStat('garbage')).toBeUndefined();
  });
});

describe('payloadProcesses', () => {
  const p = (pid: number, ppid: number, pgid: number): ProcessInfo => ({
    pid,
    ppid,
    pgid,
    state: 'S',
    cpuSec: 0,
  });

  it('finds the group, descendants that left it, and nothing else', () => {
    const all = [
      p(1, 0, 1),
      p(100, 1, 100), // the pilot
      p(200, 100, 200), // payload root (group leader)
      p(201, 200, 200),
      p(202, 201, 202), // left the group with setsid
      p(203, 202, 202), // its child
      p(210, 1, 200), // orphan still in the group
      p(300, 100, 300), // another payload
    ];
    const pids = payloadProcesses(all, 200)
      .map((x) => x.pid)
      .sort((a, b) => a - b);
    expect(pids).toEqual([200, 201, 202, 203, 210]);
  });
});

describe('parseTimesOutput', () => {
  it('sums the user and system times of the shell and its children', () => {
    expect(parseTimesOutput('0m0.010000s 0m0.020000s\n1m2.500000s 0m0.250000s\n')).toBeCloseTo(62.78, 6);
  });

  it('returns undefined when there is nothing to read', () => {
    expect(parseTimesOutput('')).toBeUndefined();
  });
});
