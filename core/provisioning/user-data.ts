/**
 * The user data of a cloud site's instances (the launch templates of cdk/constructs/provisioning.ts):
 * a bash script that boots the instance's pilots and ends the instance when they are done. The
 * instance learns everything site-specific from its tags (instance metadata tags, read by
 * `gluon-pilot cloud`), so one script serves every site of a stage.
 *
 * 1. IMDSv2: a session token first (the launch template requires it), then the instance id.
 * 2. Node.js 22 from the distribution (AL2023 `nodejs22`, run as `node-22`).
 * 3. The single-file pilot (the CommonJS bundle of pilot/build/entry.ts) from S3 with the instance
 *    role, or from an https URL.
 * 4. The pilot token (SSM SecureString) read with the instance role, never written to disk nor
 *    put on a command line.
 * 5. `gluon-pilot cloud` as the unprivileged user `gluon`: it starts the pilots (one per slot, or
 *    one per instance) and exits when they all have.
 * 6. `shutdown -h now`, whatever happened before (an EXIT trap): with the launch template's shutdown
 *    behaviour `terminate`, the instance ends and stops costing money.
 */
import { shellQuote } from './shell-quote.ts';

/** Where the single-file pilot is: an S3 object the instance role may read, or an https URL. */
export type PilotObject = { bucket: string; key: string } | { url: string };

export interface CloudUserDataOptions {
  /** The stack's region (the S3 and SSM calls). */
  region: string;
  /** The Gluon API the pilots talk to (GLUON_API_URL). */
  apiUrl: string;
  pilotObject: PilotObject;
  /** The SSM SecureString parameter holding the pilot token (GLUON_TOKEN). */
  tokenParameter: string;
  /** The instance metadata service (tests and the local fake); default the link-local address. */
  imdsEndpoint?: string;
}

/** Where the script puts the pilot, and the log of the whole boot. */
export const PILOT_FILE = '/opt/gluon/gluon-pilot.cjs';
export const BOOT_LOG = '/var/log/gluon-boot.log';
const DEFAULT_IMDS = 'http://169.254.169.254';

/** The pilot fetched to $PILOT: from S3 with the role's credentials, or from an https URL. */
function fetchPilot(pilotObject: PilotObject): string {
  return 'url' in pilotObject
    ? `curl -fsSL --retry 5 --retry-connrefused -o "$PILOT" ${shellQuote(pilotObject.url)}`
    : `aws s3 cp --region "$REGION" --only-show-errors ${shellQuote(`s3://${pilotObject.bucket}/${pilotObject.key}`)} "$PILOT"`;
}

/**
 * The steps an instance and a Batch job share: the pilot fetched, the token read with the role
 * and exported (never on a command line, never in a file), the API URL exported.
 */
function pilotSetup(options: CloudUserDataOptions): string {
  const q = shellQuote;
  return `# The single-file pilot.
mkdir -p "$(dirname "$PILOT")"
${fetchPilot(options.pilotObject)}
chmod 0644 "$PILOT"

# The pilot token, read with the role; handed over in the environment only (the pilot's
# --token is GLUON_PILOT_TOKEN, pilot/config.ts; GLUON_TOKEN for tools that use the CLI's name).
GLUON_PILOT_TOKEN=$(aws ssm get-parameter --region "$REGION" --name ${q(options.tokenParameter)} --with-decryption --query Parameter.Value --output text)
export GLUON_PILOT_TOKEN
export GLUON_TOKEN="$GLUON_PILOT_TOKEN"
export GLUON_API_URL=${q(options.apiUrl)}
export AWS_REGION="$REGION"`;
}

/**
 * The script. Values are shell-quoted (CloudFormation tokens stay intact inside the quotes), so
 * the builder takes them as they are and checks nothing itself: the stage config and the stack
 * validated them.
 */
export function cloudUserData(options: CloudUserDataOptions): string {
  const q = shellQuote;
  return `#!/bin/bash
# Gluon cloud pilots (core/provisioning/user-data.ts): start this instance's pilots, then end it.
set -euo pipefail
exec >>${BOOT_LOG} 2>&1
# Whatever happens below, the instance shuts down (launch template: shutdown behaviour terminate).
trap 'echo "gluon: shutting down"; shutdown -h now' EXIT

REGION=${q(options.region)}
IMDS=${q(options.imdsEndpoint ?? DEFAULT_IMDS)}
PILOT=${PILOT_FILE}

# IMDSv2: a session token first; every metadata read carries it.
IMDS_TOKEN=$(curl -fsS --retry 5 -X PUT "$IMDS/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600')
INSTANCE_ID=$(curl -fsS -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/latest/meta-data/instance-id")
echo "gluon: booting pilots on $INSTANCE_ID"

# Node.js 22 (AL2023 names it node-22; node may point at another version).
dnf install -y -q nodejs22
NODE=$(command -v node-22 || command -v node)

# The pilots run as an unprivileged user, with the instance role's credentials (the pilot's permissions).
id gluon >/dev/null 2>&1 || useradd --create-home --shell /sbin/nologin gluon

${pilotSetup(options)}
export GLUON_IMDS_ENDPOINT="$IMDS"
export HOME=/home/gluon

# Starts one pilot per slot (or one per instance) from the instance's tags; exits when they all have.
cd /home/gluon
set +e
setpriv --reuid=gluon --regid=gluon --init-groups "$NODE" "$PILOT" cloud
echo "gluon: pilots exited ($?)"
`;
}

/**
 * The command of the pilot container of an AWS Batch job (`bash -c SCRIPT`, the stack's job
 * definition): Node 22 and the AWS CLI when the image lacks them, the same pilot and token as an
 * instance, then one pilot `run --cloud batch` (it sees AWS_BATCH_JOB_ID). The site and slot come
 * from the job's environment (the provisioner's submit: GLUON_SITE or GLUON_SITE_ID, GLUON_CORES, …).
 */
export function batchPilotScript(options: Omit<CloudUserDataOptions, 'imdsEndpoint'>): string {
  const q = shellQuote;
  return `set -euo pipefail
REGION=${q(options.region)}
PILOT=${PILOT_FILE}
# Node.js 22 and the AWS CLI (an Amazon Linux 2023 image has neither).
if ! command -v node-22 >/dev/null || ! command -v aws >/dev/null; then dnf install -y -q nodejs22 awscli-2; fi
NODE=$(command -v node-22 || command -v node)

${pilotSetup(options)}
export GLUON_SITE="\${GLUON_SITE:-\${GLUON_SITE_ID:-}}"
exec "$NODE" "$PILOT" run --cloud batch
`;
}
