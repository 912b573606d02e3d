/**
 * The EC2 side of the fake: CreateFleet (type instant), DescribeInstances, TerminateInstances,
 * DescribeSpotPriceHistory and CreateTags, over instances that "boot" as a process with a fake
 * metadata service each. Instance states: pending → running (process started) → shutting-down →
 * terminated when the process exits (the launch template's shutdown behaviour `terminate`), on
 * TerminateInstances, or when a Spot notice's time comes (the process group is killed).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { instanceTypeInfo, type Market } from '#core/provisioning/prices.ts';
import { CLOUD_TAGS } from '#core/provisioning/tags.ts';
import { type BootCommand, signalGroup, startBootProcess } from './boot-process.ts';
import {
  Ec2Error,
  list,
  type QueryParams,
  type QueryValue,
  str,
  strings,
  struct,
  tagsOf,
  type XmlValue,
} from './ec2-query.ts';
import { type FakeImds, startFakeImds } from './fake-imds.ts';

export type FakeInstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated';

export interface FakeInstance {
  instanceId: string;
  instanceType: string;
  market: Market;
  state: FakeInstanceState;
  subnetId: string;
  availabilityZone: string;
  launchTemplate: { id?: string; name?: string; version: string };
  /** The instance's tags (TagSpecifications of resource type `instance`, and CreateTags). */
  tags: Record<string, string>;
  /** Its `gluon:site` tag. */
  siteId?: string;
  launchedAt: string;
  /** The fleet request's client token and the reservation it was launched in. */
  reservationId: string;
  /** The booted process (its process group), once running. */
  pid?: number;
  imdsEndpoint?: string;
  logFile: string;
  spotAction?: { action: 'terminate'; time: string };
  rebalanceNoticeTime?: string;
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
  terminatedAt?: string;
}

export interface FakeInstancesOptions {
  bootInstance: (instance: FakeInstance) => BootCommand | Promise<BootCommand>;
  spotNoticeSec: number;
  spotPrices: Record<string, number>;
  spotCapacity: Record<string, number>;
  launchTemplateIds?: string[];
  subnets?: Record<string, string>;
  requiredTags: string[];
  logDir: string;
  region: string;
}

interface Entry {
  info: FakeInstance;
  imds?: FakeImds;
  killTimer?: NodeJS.Timeout;
  exited?: Promise<void>;
}

const STATE_CODES: Record<FakeInstanceState, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
};
/** After TerminateInstances, the OS's shutdown gives processes this long before they are killed. */
const TERMINATE_GRACE_MS = 2_000;
/** shutting-down → terminated. */
const SHUTDOWN_MS = 100;

interface Pool {
  launchTemplate: FakeInstance['launchTemplate'];
  instanceType: string;
  subnetId: string;
  weight: number;
  priority?: number;
}

/** EC2's time format in metadata (seconds, Z). */
export function imdsTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class FakeInstances {
  private readonly entries = new Map<string, Entry>();
  private readonly fleets = new Map<string, Record<string, XmlValue>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly startedAt = new Date().toISOString();
  private stopped = false;

  private readonly options: FakeInstancesOptions;

  constructor(options: FakeInstancesOptions) {
    this.options = options;
  }

  list(): FakeInstance[] {
    return [...this.entries.values()].map((e) => ({ ...e.info, tags: { ...e.info.tags } }));
  }

  async handle(action: string, params: QueryParams): Promise<Record<string, XmlValue>> {
    switch (action) {
      case 'CreateFleet':
        return this.createFleet(params);
      case 'DescribeInstances':
        return this.describeInstances(params);
      case 'TerminateInstances':
        return this.terminateInstances(params);
      case 'DescribeSpotPriceHistory':
        return this.describeSpotPriceHistory(params);
      case 'CreateTags':
        return this.createTags(params);
      default:
        throw new Ec2Error(
          'InvalidAction',
          `The action ${action} is not valid for this web service (the fake).`,
        );
    }
  }

  /** A Spot interruption notice: metadata serves it now; at its time the process group is killed. */
  interrupt(instanceId: string, inSec = this.options.spotNoticeSec): void {
    const entry = this.entry(instanceId);
    if (entry.info.market !== 'spot') {
      throw new Ec2Error(
        'IncorrectInstanceState',
        `${instanceId} is an On-Demand instance: Spot does not interrupt it`,
      );
    }
    if (entry.info.state === 'terminated' || entry.info.state === 'shutting-down') {
      throw new Ec2Error('IncorrectInstanceState', `${instanceId} is ${entry.info.state}`);
    }
    const at = Date.now() + inSec * 1000;
    entry.info.spotAction = { action: 'terminate', time: imdsTime(at) };
    clearTimeout(entry.killTimer);
    entry.killTimer = this.timer(Math.max(0, at - Date.now()), () => this.reclaim(entry));
  }

  /** A rebalance recommendation: metadata serves it from now on. */
  rebalance(instanceId: string): void {
    const entry = this.entry(instanceId);
    entry.info.rebalanceNoticeTime = imdsTime(Date.now());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const entry of this.entries.values()) signalGroup(entry.info.pid, 'SIGKILL');
    await Promise.all([...this.entries.values()].map((e) => e.exited));
    await Promise.all([...this.entries.values()].map((e) => e.imds?.stop()));
  }

  // ---- CreateFleet --------------------------------------------------------------------------

  private createFleet(params: QueryParams): Record<string, XmlValue> {
    const clientToken = str(params, 'ClientToken');
    const earlier = clientToken === undefined ? undefined : this.fleets.get(clientToken);
    if (earlier !== undefined) return earlier;
    const type = str(params, 'Type') ?? 'maintain';
    if (type !== 'instant') {
      throw new Ec2Error(
        'InvalidParameterValue',
        `Type ${type}: the fake serves fleets of type instant only`,
      );
    }
    const pools = this.pools(params);
    const targets = this.targets(params);
    const tags = this.instanceTags(params);
    const reservationId = `r-${hex(17)}`;
    const fleetInstanceSet: XmlValue[] = [];
    const errorSet: XmlValue[] = [];
    for (const market of ['spot', 'on-demand'] as const) {
      let remaining = targets[market];
      for (const pool of this.ordered(pools, market)) {
        if (remaining <= 0) break;
        const wanted = Math.ceil(remaining / pool.weight);
        const count = Math.min(wanted, this.capacity(pool.instanceType, market));
        const launchTemplateAndOverrides = this.launchTemplateAndOverrides(pool);
        if (count < wanted) {
          errorSet.push({
            launchTemplateAndOverrides,
            lifecycle: market,
            errorCode: 'InsufficientInstanceCapacity',
            errorMessage: `There is no Spot capacity available that matches your request (${pool.instanceType} in ${pool.subnetId}).`,
          });
        }
        if (count === 0) continue;
        const ids: string[] = [];
        for (let i = 0; i < count; i++) ids.push(this.launch(pool, market, tags, reservationId).instanceId);
        fleetInstanceSet.push({
          launchTemplateAndOverrides,
          lifecycle: market,
          instanceIds: ids,
          instanceType: pool.instanceType,
          subnetId: pool.subnetId,
          availabilityZone: this.zoneOf(pool.subnetId),
        });
        remaining -= count * pool.weight;
      }
    }
    const result: Record<string, XmlValue> = {
      fleetId: `fleet-${randomUUID()}`,
      errorSet,
      fleetInstanceSet,
    };
    if (clientToken !== undefined) this.fleets.set(clientToken, result);
    return result;
  }

  private pools(params: QueryParams): Pool[] {
    const configs = list(params, 'LaunchTemplateConfigs');
    if (configs.length === 0) {
      throw new Ec2Error('MissingParameter', 'The request must contain the parameter LaunchTemplateConfigs');
    }
    return configs.flatMap((config, c) => {
      const spec = struct(config, 'LaunchTemplateSpecification');
      const id = str(spec, 'LaunchTemplateId');
      const name = str(spec, 'LaunchTemplateName');
      if (id === undefined && name === undefined) {
        throw new Ec2Error(
          'MissingParameter',
          `LaunchTemplateConfigs.${c + 1}.LaunchTemplateSpecification: a launch template id or name is required`,
        );
      }
      if (
        id !== undefined &&
        this.options.launchTemplateIds !== undefined &&
        !this.options.launchTemplateIds.includes(id)
      ) {
        throw new Ec2Error(
          'InvalidLaunchTemplateId.NotFound',
          `The specified launch template, with template ID ${id}, does not exist.`,
        );
      }
      const launchTemplate = {
        ...(id === undefined ? {} : { id }),
        ...(name === undefined ? {} : { name }),
        version: str(spec, 'Version') ?? '$Default',
      };
      const overrides = list(config, 'Overrides');
      if (overrides.length === 0) {
        throw new Ec2Error(
          'InvalidParameterValue',
          `LaunchTemplateConfigs.${c + 1}.Overrides: the fake's launch templates name no instance type or subnet`,
        );
      }
      return overrides.map((override, o) =>
        this.pool(override, launchTemplate, `LaunchTemplateConfigs.${c + 1}.Overrides.${o + 1}`),
      );
    });
  }

  private pool(override: QueryValue, launchTemplate: Pool['launchTemplate'], path: string): Pool {
    const instanceType = str(override, 'InstanceType');
    if (instanceType === undefined)
      throw new Ec2Error('InvalidParameterValue', `${path}.InstanceType is required`);
    if (instanceTypeInfo(instanceType) === undefined && this.options.spotPrices[instanceType] === undefined) {
      throw new Ec2Error('InvalidParameterValue', `${path}.InstanceType: invalid value '${instanceType}'`);
    }
    const subnetId = str(override, 'SubnetId');
    if (subnetId === undefined) throw new Ec2Error('InvalidParameterValue', `${path}.SubnetId is required`);
    if (this.options.subnets !== undefined && !Object.hasOwn(this.options.subnets, subnetId)) {
      throw new Ec2Error('InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`);
    }
    const weight = Number(str(override, 'WeightedCapacity') ?? '1');
    if (!(weight > 0))
      throw new Ec2Error('InvalidParameterValue', `${path}.WeightedCapacity must be above 0`);
    const priority = str(override, 'Priority');
    return {
      launchTemplate,
      instanceType,
      subnetId,
      weight,
      ...(priority === undefined ? {} : { priority: Number(priority) }),
    };
  }

  /** Target units per market: the given Spot and On-Demand parts, the rest to the default type. */
  private targets(params: QueryParams): Record<Market, number> {
    const spec = struct(params, 'TargetCapacitySpecification');
    const total = Number(str(spec, 'TotalTargetCapacity'));
    if (!Number.isInteger(total) || total < 0) {
      throw new Ec2Error('MissingParameter', 'TargetCapacitySpecification.TotalTargetCapacity is required');
    }
    const unit = str(spec, 'TargetCapacityUnitType') ?? 'units';
    if (unit !== 'units')
      throw new Ec2Error('InvalidParameterValue', `TargetCapacityUnitType ${unit}: the fake counts units`);
    const defaultType = str(spec, 'DefaultTargetCapacityType');
    if (defaultType !== 'spot' && defaultType !== 'on-demand') {
      throw new Ec2Error(
        'InvalidParameterValue',
        'TargetCapacitySpecification.DefaultTargetCapacityType: spot or on-demand',
      );
    }
    const targets: Record<Market, number> = {
      spot: Number(str(spec, 'SpotTargetCapacity') ?? '0'),
      'on-demand': Number(str(spec, 'OnDemandTargetCapacity') ?? '0'),
    };
    const rest = total - targets.spot - targets['on-demand'];
    if (rest < 0)
      throw new Ec2Error('InvalidParameterValue', 'Spot and On-Demand target capacities exceed the total');
    targets[defaultType] += rest;
    return targets;
  }

  /** Instance tags; the stack's IAM allows launching only with the stage tag (requiredTags). */
  private instanceTags(params: QueryParams): Record<string, string> {
    const tags: Record<string, string> = {};
    for (const spec of list(params, 'TagSpecification')) {
      if (str(spec, 'ResourceType') === 'instance') Object.assign(tags, tagsOf(spec));
    }
    for (const required of this.options.requiredTags) {
      if (tags[required] === undefined) {
        throw new Ec2Error(
          'UnauthorizedOperation',
          `You are not authorized to perform this operation: instances must be tagged ${required} (TagSpecification of resource type instance)`,
          403,
        );
      }
    }
    return tags;
  }

  /** By Priority (lower first; none last), then by price in the market. */
  private ordered(pools: Pool[], market: Market): Pool[] {
    const price = (type: string): number =>
      market === 'spot'
        ? (this.options.spotPrices[type] ?? instanceTypeInfo(type)?.spotUsd ?? Number.POSITIVE_INFINITY)
        : (instanceTypeInfo(type)?.onDemandUsd ?? Number.POSITIVE_INFINITY);
    return [...pools].sort(
      (a, b) =>
        (a.priority ?? Number.POSITIVE_INFINITY) - (b.priority ?? Number.POSITIVE_INFINITY) ||
        price(a.instanceType) / a.weight - price(b.instanceType) / b.weight,
    );
  }

  /** Instances of the type EC2 can still give in the market (Spot capacity limited by option). */
  private capacity(instanceType: string, market: Market): number {
    const limit = market === 'spot' ? this.options.spotCapacity[instanceType] : undefined;
    if (limit === undefined) return Number.POSITIVE_INFINITY;
    const live = [...this.entries.values()].filter(
      (e) =>
        e.info.instanceType === instanceType &&
        e.info.market === 'spot' &&
        (e.info.state === 'pending' || e.info.state === 'running'),
    ).length;
    return Math.max(0, limit - live);
  }

  private launchTemplateAndOverrides(pool: Pool): XmlValue {
    return {
      launchTemplateSpecification: {
        launchTemplateId: pool.launchTemplate.id,
        launchTemplateName: pool.launchTemplate.name,
        version: pool.launchTemplate.version,
      },
      overrides: {
        instanceType: pool.instanceType,
        subnetId: pool.subnetId,
        weightedCapacity: pool.weight,
        priority: pool.priority,
      },
    };
  }

  private zoneOf(subnetId: string): string {
    const given = this.options.subnets?.[subnetId];
    if (given !== undefined) return given;
    const letter = 'abcdef'[Number.parseInt(subnetId.slice(-2), 16) % 6 || 0] ?? 'a';
    return `${this.options.region}${letter}`;
  }

  // ---- instances ----------------------------------------------------------------------------

  private launch(
    pool: Pool,
    market: Market,
    tags: Record<string, string>,
    reservationId: string,
  ): FakeInstance {
    const instanceId = `i-${hex(17)}`;
    const siteId = tags[CLOUD_TAGS.site];
    const info: FakeInstance = {
      instanceId,
      instanceType: pool.instanceType,
      market,
      state: 'pending',
      subnetId: pool.subnetId,
      availabilityZone: this.zoneOf(pool.subnetId),
      launchTemplate: pool.launchTemplate,
      tags: { ...tags },
      ...(siteId === undefined ? {} : { siteId }),
      launchedAt: new Date().toISOString(),
      reservationId,
      logFile: join(this.options.logDir, `${instanceId}.log`),
    };
    const entry: Entry = { info };
    this.entries.set(instanceId, entry);
    entry.exited = this.boot(entry);
    return info;
  }

  /** pending → running: the metadata service, then the process; resolves when the process has exited. */
  private async boot(entry: Entry): Promise<void> {
    const info = entry.info;
    entry.imds = await startFakeImds(() => info);
    info.imdsEndpoint = entry.imds.endpoint;
    if (info.state !== 'pending' || this.stopped) {
      this.shutDown(entry);
      return;
    }
    let command: BootCommand;
    try {
      command = await this.options.bootInstance({ ...info, tags: { ...info.tags } });
    } catch (error) {
      info.exitCode = 127;
      this.shutDown(entry, (error as Error).message);
      return;
    }
    if (info.state !== 'pending' || this.stopped) {
      this.shutDown(entry);
      return;
    }
    const process = startBootProcess(command, { GLUON_IMDS_ENDPOINT: entry.imds.endpoint }, info.logFile);
    if (process.pid !== undefined) info.pid = process.pid;
    info.state = 'running';
    const { exitCode, signal } = await process.exited;
    info.exitCode = exitCode;
    info.signal = signal;
    this.shutDown(entry);
  }

  /** shutting-down, then terminated (shutdown behaviour terminate). */
  private shutDown(entry: Entry, _reason?: string): void {
    clearTimeout(entry.killTimer);
    if (entry.info.state === 'terminated') return;
    entry.info.state = 'shutting-down';
    this.timer(SHUTDOWN_MS, () => {
      entry.info.state = 'terminated';
      entry.info.terminatedAt = new Date().toISOString();
      void entry.imds?.stop();
    });
  }

  /** Spot takes the instance back: the process group is killed. */
  private reclaim(entry: Entry): void {
    if (entry.info.state === 'terminated') return;
    if (!signalGroup(entry.info.pid, 'SIGKILL') && entry.info.state === 'running') this.shutDown(entry);
    if (entry.info.state === 'pending') entry.info.state = 'shutting-down';
  }

  private terminate(entry: Entry): void {
    const state = entry.info.state;
    if (state === 'terminated' || state === 'shutting-down') return;
    entry.info.state = 'shutting-down';
    if (state === 'pending') return; // boot sees it and shuts down
    if (!signalGroup(entry.info.pid, 'SIGTERM')) return;
    clearTimeout(entry.killTimer);
    entry.killTimer = this.timer(TERMINATE_GRACE_MS, () => signalGroup(entry.info.pid, 'SIGKILL'));
  }

  private entry(instanceId: string): Entry {
    const entry = this.entries.get(instanceId);
    if (entry === undefined) {
      throw new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    }
    return entry;
  }

  private timer(ms: number, run: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  // ---- Describe, Terminate, Spot prices, tags -------------------------------------------------

  private describeInstances(params: QueryParams): Record<string, XmlValue> {
    const ids = strings(params, 'InstanceId');
    for (const id of ids) this.entry(id);
    const filters = list(params, 'Filter').map((f) => ({
      name: str(f, 'Name') ?? '',
      values: strings(f, 'Value'),
    }));
    const matching = [...this.entries.values()]
      .map((e) => e.info)
      .filter(
        (i) => (ids.length === 0 || ids.includes(i.instanceId)) && filters.every((f) => matchesFilter(i, f)),
      );
    const reservations = new Map<string, FakeInstance[]>();
    for (const instance of matching) {
      reservations.set(instance.reservationId, [
        ...(reservations.get(instance.reservationId) ?? []),
        instance,
      ]);
    }
    return {
      reservationSet: [...reservations].map(([reservationId, instances]) => ({
        reservationId,
        ownerId: '000000000000',
        instancesSet: instances.map(instanceXml),
      })),
    };
  }

  private terminateInstances(params: QueryParams): Record<string, XmlValue> {
    const ids = strings(params, 'InstanceId');
    if (ids.length === 0)
      throw new Ec2Error('MissingParameter', 'The request must contain the parameter InstanceId');
    const entries = ids.map((id) => this.entry(id));
    return {
      instancesSet: entries.map((entry) => {
        const previous = entry.info.state;
        this.terminate(entry);
        return {
          instanceId: entry.info.instanceId,
          previousState: { code: STATE_CODES[previous], name: previous },
          currentState: { code: STATE_CODES[entry.info.state], name: entry.info.state },
        };
      }),
    };
  }

  private describeSpotPriceHistory(params: QueryParams): Record<string, XmlValue> {
    const asked = strings(params, 'InstanceType');
    const types = asked.length > 0 ? asked : Object.keys(this.options.spotPrices);
    const zoneFilter = list(params, 'Filter').find((f) => str(f, 'Name') === 'availability-zone');
    const zone = str(params, 'AvailabilityZone');
    const zones =
      zone !== undefined
        ? [zone]
        : zoneFilter !== undefined
          ? strings(zoneFilter, 'Value')
          : [`${this.options.region}a`];
    const spotPriceHistorySet: XmlValue[] = [];
    for (const type of types) {
      const price = this.options.spotPrices[type] ?? instanceTypeInfo(type)?.spotUsd;
      if (price === undefined) continue;
      for (const availabilityZone of zones) {
        spotPriceHistorySet.push({
          instanceType: type,
          productDescription: 'Linux/UNIX',
          spotPrice: price.toFixed(6),
          timestamp: this.startedAt,
          availabilityZone,
        });
      }
    }
    return { spotPriceHistorySet, nextToken: '' };
  }

  private createTags(params: QueryParams): Record<string, XmlValue> {
    const tags = tagsOf(params);
    for (const id of strings(params, 'ResourceId')) {
      const entry = this.entries.get(id);
      if (entry !== undefined) Object.assign(entry.info.tags, tags);
    }
    return { return: true };
  }
}

function hex(digits: number): string {
  return randomBytes(Math.ceil(digits / 2))
    .toString('hex')
    .slice(0, digits);
}

function matchesFilter(instance: FakeInstance, filter: { name: string; values: string[] }): boolean {
  const { name, values } = filter;
  if (name.startsWith('tag:')) {
    const value = instance.tags[name.slice(4)];
    return value !== undefined && values.includes(value);
  }
  const field: Record<string, string | undefined> = {
    'instance-state-name': instance.state,
    'instance-id': instance.instanceId,
    'instance-type': instance.instanceType,
    'instance-lifecycle': instance.market === 'spot' ? 'spot' : undefined,
    'subnet-id': instance.subnetId,
    'availability-zone': instance.availabilityZone,
  };
  if (name === 'tag-key') return values.some((v) => Object.hasOwn(instance.tags, v));
  if (!Object.hasOwn(field, name))
    throw new Ec2Error('InvalidParameterValue', `The filter '${name}' is invalid`);
  const value = field[name];
  return value !== undefined && values.includes(value);
}

function instanceXml(instance: FakeInstance): XmlValue {
  const arch = instanceTypeInfo(instance.instanceType)?.arch === 'aarch64' ? 'arm64' : 'x86_64';
  return {
    instanceId: instance.instanceId,
    imageId: 'ami-0fake0000000000000',
    instanceState: { code: STATE_CODES[instance.state], name: instance.state },
    privateDnsName: `ip-127-0-0-1.${instance.availabilityZone}.compute.internal`,
    instanceType: instance.instanceType,
    launchTime: instance.launchedAt,
    placement: { availabilityZone: instance.availabilityZone, tenancy: 'default' },
    subnetId: instance.subnetId,
    vpcId: 'vpc-0fake000000000000',
    architecture: arch,
    instanceLifecycle: instance.market === 'spot' ? 'spot' : undefined,
    tagSet: Object.entries(instance.tags).map(([key, value]) => ({ key, value })),
  };
}
