/**
 * A cloud site on the local stack: the provisioner (scheduled every second here) asks the fake EC2
 * for instances through the real SDK client; each instance boots `gluon-pilot cloud`, whose pilots
 * read the fake IMDSv2 and register with their instance type and market. The queue empties, the
 * pilots exit after their idle time and the instances terminate; a Spot interruption notice during
 * a job evicts it, and it finishes on another instance without spending an attempt.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbDocumentClient } from '#adapters/aws-clients.ts';
import { DynamoDbSiteStore } from '#adapters/dynamodb/dynamodb-site-store.ts';
import { localTableNames } from '#adapters/dynamodb/tables.ts';
import { PILOT_ERROR_CODES } from '#core/pilots/pilot-error-codes.ts';
import type { ProvisioningDecision } from '#core/provisioning/provisioning-decision.ts';
import { LOCAL_LAUNCH_TEMPLATES, LOCAL_STAGE } from '#local/cloud.ts';
import type { FakeEc2Request } from '#local/fake-ec2/fake-ec2.ts';
import { LOCAL_PREFIX, type LocalStack } from '#local/stack.ts';
import { Api, shellTask, startTestStack, waitFor } from '#test/support/e2e.ts';

const SITE = 'cloud-a';
/** One slot: 2 cores, 4 GB. An m5.large gives 1 (weight 1), an m5.xlarge 2. */
const SLOT = { cores: 2, memoryMB: 4096, walltimeSec: 3600, diskMB: 10_000 };
const IDLE_EXIT_SEC = 5;

let stack: LocalStack;
let api: Api;
let sites: DynamoDbSiteStore;

beforeAll(async () => {
  // No pilots of the local site: every job here runs on the cloud site's instances.
  stack = await startTestStack('cloud-ec2', { pilots: 0, inMemory: true, provisionEverySec: 1 });
  api = new Api(stack.apiUrl, stack.userToken);
  const operator = new Api(stack.apiUrl, await stack.mintToken({ sub: 'operator', scopes: ['gluon.admin'] }));
  const put = await operator.request('PUT', `/sites/${SITE}`, {
    kind: 'cloud',
    slot: SLOT,
    maxPilots: 4,
    provisioning: {
      type: 'ec2',
      instanceTypes: [{ type: 'm5.large' }, { type: 'm5.xlarge' }],
      market: 'spot-first',
      subnets: ['subnet-0a1b2c3d'],
      maxInstances: 2,
      maxHourlyUsd: 1,
      pilots: 'slot',
      idleExitSec: IDLE_EXIT_SEC,
    },
  });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
  sites = new DynamoDbSiteStore(dynamoDbDocumentClient(), localTableNames(LOCAL_PREFIX).sites);
});

afterAll(async () => {
  await stack?.stop();
});

function cloudTask(name: string, script: string, events: number) {
  return shellTask(name, script, {
    events,
    resources: { cores: 2, memoryMB: 2048, walltimeSec: 300, diskMB: 100 },
    sites: { allow: [SITE] },
  });
}

function fleets(): FakeEc2Request[] {
  return stack.cloud.requests.filter((r) => r.service === 'ec2' && r.action === 'CreateFleet');
}

function live() {
  return stack.cloud.instances().filter((i) => i.state === 'pending' || i.state === 'running');
}

describe('a cloud ec2 site (spot-first, m5.large and m5.xlarge, at most 2 instances)', () => {
  it('boots instances for queued jobs; their pilots register with instance type and market; the task completes', async () => {
    const taskId = await api.submit(cloudTask('cloud-work', 'sleep 1', 4));
    const task = await api.finalTask(taskId, 180_000);
    expect(task.state).toBe('done');

    const booted = stack.cloud.instances();
    expect(booted.length).toBeGreaterThanOrEqual(1);
    expect(booted.length).toBeLessThanOrEqual(2);
    expect(booted.every((i) => i.siteId === SITE && i.market === 'spot')).toBe(true);

    const jobs = await api.jobs(taskId);
    expect(jobs.every((j) => j.siteId === SITE)).toBe(true);
    const pilots = (await api.pilots()).filter((p) => p.siteId === SITE);
    const instanceIds = new Set(booted.map((i) => i.instanceId));
    expect(pilots.length).toBeGreaterThanOrEqual(1);
    for (const pilot of pilots) {
      expect(pilot.cloud).toMatchObject({ provider: 'ec2', market: 'spot' });
      expect(['m5.large', 'm5.xlarge']).toContain(pilot.cloud?.instanceType);
      expect(instanceIds.has(pilot.cloud?.instanceId as string)).toBe(true);
    }
    // Every job ran on a pilot of one of these instances.
    const pilotIds = new Set(pilots.map((p) => p.pilotId));
    expect(jobs.every((j) => pilotIds.has(j.pilotId as string))).toBe(true);

    // What the provisioner sent: the stage's launch template, both types, Spot, the tags.
    const first = fleets()[0];
    if (first === undefined) throw new Error('the provisioner sent no CreateFleet');
    expect(first.params).toMatchObject({
      Type: 'instant',
      LaunchTemplateConfigs: [
        { LaunchTemplateSpecification: { LaunchTemplateId: LOCAL_LAUNCH_TEMPLATES.x86_64.id } },
      ],
      TargetCapacitySpecification: { DefaultTargetCapacityType: 'spot' },
    });
    const config = (
      first.params.LaunchTemplateConfigs as Array<{ Overrides: Array<Record<string, string>> }>
    )[0];
    expect(new Set(config?.Overrides.map((o) => o.InstanceType))).toEqual(new Set(['m5.large', 'm5.xlarge']));
    expect(config?.Overrides.every((o) => o.SubnetId === 'subnet-0a1b2c3d')).toBe(true);
    const instanceTags = (
      first.params.TagSpecification as Array<{
        ResourceType: string;
        Tag: Array<{ Key: string; Value: string }>;
      }>
    )
      .find((t) => t.ResourceType === 'instance')
      ?.Tag.map((t) => [t.Key, t.Value]);
    expect(instanceTags).toEqual(
      expect.arrayContaining([
        ['gluon:stage', LOCAL_STAGE],
        ['gluon:site', SITE],
        ['gluon:pilots', 'slot'],
        ['gluon:idle-exit-sec', String(IDLE_EXIT_SEC)],
      ]),
    );
  });

  it('once the queue is empty, the pilots exit after their idle time, the instances terminate, and nothing more is asked for', async () => {
    await waitFor(async () => stack.cloud.instances().every((i) => i.state === 'terminated'), {
      what: 'the idle instances to retire',
      timeoutMs: 60_000,
    });
    const retiredAt = new Date().toISOString();
    const asked = fleets().length;
    // A provisioning cycle after the last instance went: no demand, nothing requested.
    const decision = await waitFor(
      async () => {
        const d: ProvisioningDecision | undefined = (await sites.get(SITE))?.provisioned;
        return d !== undefined && d.at > retiredAt ? d : undefined;
      },
      { what: 'a provisioning decision after the instances retired', timeoutMs: 30_000 },
    );
    expect(decision).toMatchObject({
      siteId: SITE,
      type: 'ec2',
      limitedBy: 'no-demand',
      requested: [],
      started: 0,
    });
    expect(fleets()).toHaveLength(asked);
    expect(live()).toEqual([]);
  });

  it('a Spot interruption notice during a job: the attempt is evicted and the job finishes on another instance, no attempt spent', async () => {
    // The first attempt sleeps long (it is the one interrupted); any later one is quick.
    const marker = join(mkdtempSync(join(tmpdir(), 'gluon-e2e-spot-')), 'first-attempt');
    const taskId = await api.submit({
      ...cloudTask(
        'spot-victim',
        `if [ -e ${marker} ]; then sleep 1; else touch ${marker}; sleep 120; fi`,
        1,
      ),
      maxAttempts: 1,
    });
    const running = await waitFor(
      async () => (await api.jobs(taskId)).find((j) => j.state === 'running' && j.pilotId !== undefined),
      { what: 'the job to run on an instance', timeoutMs: 120_000 },
    );
    await waitFor(async () => existsSync(marker), { what: 'the payload of the first attempt to start' });
    const pilot = (await api.pilots()).find((p) => p.pilotId === running.pilotId);
    const victim = pilot?.cloud?.instanceId as string;
    expect(live().map((i) => i.instanceId)).toContain(victim);
    stack.cloud.interrupt(victim, 20);

    const task = await api.finalTask(taskId, 180_000);
    expect(task.state).toBe('done');
    const job = await api.job(taskId, 0);
    expect(job.attempts?.map((a) => [a.attempt, a.state, a.pilotErrorCode])).toEqual([
      [1, 'evicted', PILOT_ERROR_CODES.EVICTED],
      [2, 'finished', PILOT_ERROR_CODES.OK],
    ]);
    const second = (await api.pilots()).find((p) => p.pilotId === job.attempts?.[1]?.pilotId);
    expect(second?.cloud?.instanceId).toBeDefined();
    expect(second?.cloud?.instanceId).not.toBe(victim);
    // The interrupted instance is gone (reclaimed at its notice's time, or retired before).
    await waitFor(
      async () => stack.cloud.instances().find((i) => i.instanceId === victim)?.state === 'terminated',
      {
        what: 'the interrupted instance to terminate',
      },
    );
  });
});
