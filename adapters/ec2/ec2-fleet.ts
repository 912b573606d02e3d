/**
 * EC2 as the cloud provisioner needs it (core/provisioning/ports.ts Ec2Fleet), through the real SDK
 * client: CreateFleet of type `instant` over the site's launch template (one per architecture, from
 * GLUON_LAUNCH_TEMPLATES) with type × subnet overrides, DescribeInstances by the site's and stage's
 * tags, and the latest Spot prices. Locally AWS_ENDPOINT_URL_EC2 points the client at local/fake-ec2.
 */
import {
  type _InstanceType,
  CreateFleetCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandOutput,
  DescribeSpotPriceHistoryCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { z } from 'zod';
import type { CloudInstance, Ec2Fleet, FleetOutcome, FleetRequest } from '#core/provisioning/ports.ts';
import type { InstanceArch, Market } from '#core/provisioning/prices.ts';
import { CLOUD_TAGS } from '#core/provisioning/tags.ts';
import { rethrowNamedSdkError } from '../sdk-errors.ts';

/** GLUON_LAUNCH_TEMPLATES: `{"x86_64":{"id":"lt-…","version":"$Latest"},"aarch64":{…}}`. */
export const LaunchTemplatesSchema = z.partialRecord(
  z.enum(['x86_64', 'aarch64']),
  z.object({ id: z.string().min(1), version: z.string().min(1).default('$Latest') }),
);
export type LaunchTemplates = z.infer<typeof LaunchTemplatesSchema>;

export interface Ec2FleetOptions {
  /** The stage's name: instances are listed by its tag too (another stage's are not ours). */
  stage: string;
  launchTemplates: LaunchTemplates;
}

export class SdkEc2Fleet implements Ec2Fleet {
  private readonly client: EC2Client;
  private readonly options: Ec2FleetOptions;

  constructor(client: EC2Client, options: Ec2FleetOptions) {
    this.client = client;
    this.options = options;
  }

  async listInstances(siteId: string): Promise<CloudInstance[]> {
    const instances: CloudInstance[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const out: DescribeInstancesCommandOutput = await this.client.send(
          new DescribeInstancesCommand({
            Filters: [
              { Name: `tag:${CLOUD_TAGS.site}`, Values: [siteId] },
              { Name: `tag:${CLOUD_TAGS.stage}`, Values: [this.options.stage] },
              { Name: 'instance-state-name', Values: ['pending', 'running'] },
            ],
            ...(nextToken === undefined ? {} : { NextToken: nextToken }),
          }),
        );
        for (const reservation of out.Reservations ?? []) {
          for (const i of reservation.Instances ?? []) {
            const state = i.State?.Name;
            if (i.InstanceId === undefined || (state !== 'pending' && state !== 'running')) continue;
            instances.push({
              instanceId: i.InstanceId,
              instanceType: i.InstanceType ?? 'unknown',
              market: i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
              state,
              launchedAt: (i.LaunchTime ?? new Date(0)).toISOString(),
              ...(i.SubnetId === undefined ? {} : { subnetId: i.SubnetId }),
            });
          }
        }
        nextToken = out.NextToken;
      } while (nextToken !== undefined && nextToken !== '');
    } catch (error) {
      rethrowNamedSdkError(error, 'EC2 DescribeInstances');
    }
    return instances;
  }

  async createFleet(request: FleetRequest): Promise<FleetOutcome> {
    const arch: InstanceArch = request.arch ?? 'x86_64';
    const template = this.options.launchTemplates[arch];
    if (template === undefined)
      throw new Error(
        `no launch template for ${arch} (GLUON_LAUNCH_TEMPLATES names ${Object.keys(this.options.launchTemplates).join(', ') || 'none'})`,
      );
    const tags = Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value }));
    try {
      const out = await this.client.send(
        new CreateFleetCommand({
          Type: 'instant',
          ClientToken: request.clientToken,
          LaunchTemplateConfigs: [
            {
              LaunchTemplateSpecification: { LaunchTemplateId: template.id, Version: template.version },
              Overrides: request.overrides.map((o) => ({
                InstanceType: o.instanceType as _InstanceType,
                SubnetId: o.subnetId,
                WeightedCapacity: o.weight,
                ...(o.priority === undefined ? {} : { Priority: o.priority }),
              })),
            },
          ],
          TargetCapacitySpecification: {
            TotalTargetCapacity: request.targetUnits,
            DefaultTargetCapacityType: request.market,
            ...(request.market === 'spot'
              ? { SpotTargetCapacity: request.targetUnits }
              : { OnDemandTargetCapacity: request.targetUnits }),
          },
          SpotOptions: { AllocationStrategy: 'price-capacity-optimized' },
          OnDemandOptions: { AllocationStrategy: 'lowest-price' },
          TagSpecifications: [
            { ResourceType: 'instance', Tags: tags },
            { ResourceType: 'volume', Tags: tags },
          ],
        }),
      );
      const instances: FleetOutcome['instances'] = [];
      for (const group of out.Instances ?? []) {
        const market: Market =
          group.Lifecycle === 'spot'
            ? 'spot'
            : group.Lifecycle === 'on-demand'
              ? 'on-demand'
              : request.market;
        const subnetId = group.LaunchTemplateAndOverrides?.Overrides?.SubnetId;
        for (const instanceId of group.InstanceIds ?? []) {
          instances.push({
            instanceId,
            instanceType:
              group.InstanceType ?? group.LaunchTemplateAndOverrides?.Overrides?.InstanceType ?? 'unknown',
            market,
            ...(subnetId === undefined ? {} : { subnetId }),
          });
        }
      }
      const errors: FleetOutcome['errors'] = (out.Errors ?? []).map((e) => {
        const overrides = e.LaunchTemplateAndOverrides?.Overrides;
        return {
          code: e.ErrorCode ?? 'Unknown',
          message: e.ErrorMessage ?? '',
          ...(overrides?.InstanceType === undefined ? {} : { instanceType: overrides.InstanceType }),
          ...(overrides?.SubnetId === undefined ? {} : { subnetId: overrides.SubnetId }),
        };
      });
      return { instances, errors };
    } catch (error) {
      rethrowNamedSdkError(error, 'EC2 CreateFleet');
    }
  }

  async spotPrices(instanceTypes: string[]): Promise<Record<string, { usd: number; at: string }>> {
    const prices: Record<string, { usd: number; at: string }> = {};
    try {
      const out = await this.client.send(
        new DescribeSpotPriceHistoryCommand({
          InstanceTypes: instanceTypes as _InstanceType[],
          ProductDescriptions: ['Linux/UNIX'],
          StartTime: new Date(),
        }),
      );
      for (const p of out.SpotPriceHistory ?? []) {
        const usd = Number(p.SpotPrice);
        if (p.InstanceType === undefined || !Number.isFinite(usd)) continue;
        const at = (p.Timestamp ?? new Date(0)).toISOString();
        const seen = prices[p.InstanceType];
        // The latest per type; of prices as late (one per zone), the highest: the caps hold in any zone.
        if (seen === undefined || at > seen.at || (at === seen.at && usd > seen.usd))
          prices[p.InstanceType] = { usd, at };
      }
    } catch (error) {
      rethrowNamedSdkError(error, 'EC2 DescribeSpotPriceHistory');
    }
    return prices;
  }
}
