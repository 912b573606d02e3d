import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PutSiteRequestSchema } from '#core/api/sites.ts';
import { cloudSiteIssues } from '#core/provisioning/cloud-site-issues.ts';
import { instanceTypeInfo, slotsPerInstance } from '#core/provisioning/prices.ts';
import { parseTaskSpecText } from '#core/tasks/task-spec.ts';

const examples = join(import.meta.dirname, '../../../examples/sites');

function definition(file: string) {
  return PutSiteRequestSchema.parse(parse(readFileSync(join(examples, file), 'utf8')));
}

describe('the example cloud sites', () => {
  it('cloud-ec2.yaml is a valid EC2 site whose types each give 4 slots', () => {
    const site = definition('cloud-ec2.yaml');
    expect(cloudSiteIssues(site)).toEqual([]);
    expect(site.provisioning?.type).toBe('ec2');
    if (site.provisioning?.type !== 'ec2') return;
    for (const { type } of site.provisioning.instanceTypes) {
      const info = instanceTypeInfo(type);
      expect(info && slotsPerInstance(info, site.slot), type).toBe(4);
    }
  });

  it('cloud-local.yaml is a valid EC2 site, and cloud-task.yaml a valid task for it', () => {
    const site = definition('cloud-local.yaml');
    expect(cloudSiteIssues(site)).toEqual([]);
    const task = parseTaskSpecText(readFileSync(join(examples, 'cloud-task.yaml'), 'utf8'));
    expect(task.sites.allow).toEqual(['cloud-local']);
    expect(task.budget).toEqual({ usd: 0.01 });
  });

  it('cloud-batch.yaml is a valid AWS Batch site', () => {
    const site = definition('cloud-batch.yaml');
    expect(cloudSiteIssues(site)).toEqual([]);
    expect(site.provisioning).toMatchObject({ type: 'batch', jobQueue: 'gluon-pilots' });
  });
});
