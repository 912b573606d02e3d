import { roundUsd } from '../accounting/usage.ts';
/**
 * What a cloud pilot costs, fixed when it registers: its part of its instance's hourly price (EC2:
 * the price of its instance type in its market over the pilots sharing the instance), or the price
 * of one pilot of an AWS Batch site. Only pilots of sites with provisioning are priced.
 */
import type { CloudNode, PilotCost } from '../pilots/pilot.ts';
import type { SiteRecord } from '../sites/site.ts';
import { batchPilotPrice, hourlyPrice, type PriceQuote } from './prices.ts';

/**
 * The pilot's cost, from what it read of its node and the site (already read at registration: no
 * other read). Undefined when the site has no provisioning, the pilot sent no cloud node, or an
 * EC2 pilot's instance type or market is missing or has no price (a type the price table does not
 * know and no Spot price was read for): such a pilot runs, unpriced, and its attempts carry no cost.
 */
export function pilotCost(
  site: Pick<SiteRecord, 'provisioning' | 'provisioned' | 'slot'>,
  cloud: CloudNode | undefined,
  at: string,
): PilotCost | undefined {
  const provisioning = site.provisioning;
  if (provisioning === undefined || cloud === undefined) return undefined;
  const quote = cloud.provider === 'ec2' ? instancePrice(site, cloud) : batchPrice(site, at);
  if (quote === undefined) return undefined;
  const pilots = cloud.provider === 'ec2' ? cloud.pilotsOnInstance : 1;
  return {
    hourlyUsd: roundUsd(quote.hourlyUsd / pilots),
    instanceHourlyUsd: quote.hourlyUsd,
    source: quote.source,
    asOf: quote.asOf,
  };
}

/** The instance's price: the Spot price the provisioner last read from the history, else the table's. */
function instancePrice(site: Pick<SiteRecord, 'provisioned'>, cloud: CloudNode): PriceQuote | undefined {
  const { instanceType, market } = cloud;
  if (instanceType === undefined || market === undefined) return undefined;
  const read = site.provisioned?.prices[`${instanceType}/${market}`];
  const spot =
    market === 'spot' && read?.source === 'spot-history' ? { usd: read.hourlyUsd, at: read.asOf } : undefined;
  return hourlyPrice(instanceType, market, spot);
}

/** One AWS Batch pilot's price: the site's hourlyUsdPerPilot, else Fargate's for one slot. */
function batchPrice(site: Pick<SiteRecord, 'provisioning' | 'slot'>, at: string): PriceQuote {
  const provisioning = site.provisioning?.type === 'batch' ? site.provisioning : {};
  return batchPilotPrice(provisioning, site.slot, at);
}
