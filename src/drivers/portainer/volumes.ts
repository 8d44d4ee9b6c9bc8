import { isIP } from 'node:net';
import type { VolumeSpec } from '../containers/types.js';
import type { PortainerClient } from './client.js';
import { dockerPath } from './docker.js';
import { PortainerApiError, PortainerVerifyError } from './errors.js';
import type { DockerVolume } from './types.js';

/**
 * Docker volumes on one environment, through Portainer's Docker proxy (Engine API VolumeList, VolumeCreate).
 *
 * An NFS volume is a `local` driver volume with mount options, as Docker documents it:
 * `DriverOpts = {type: "nfs", o: "addr=SERVER[,OPTIONS]", device: ":EXPORT"}`.
 * Docker's create is "get or create": for a name that exists with the same driver it returns the existing
 * volume and ignores the options given. So options are compared here: a volume that exists with other
 * options is reported, never removed or replaced (data lives in it).
 */

const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const EXPORT_PATH = /^\/[A-Za-z0-9._/-]*$/;
const MOUNT_OPTIONS = /^[A-Za-z0-9_.=-]+(?:,[A-Za-z0-9_.=-]+)*$/;

/** The label Phoenix puts on the volumes it creates. */
export const MANAGED_LABEL = 'org.phoenix.managed';

export interface VolumeRequest {
  readonly Name: string;
  readonly Driver: 'local';
  readonly DriverOpts: Record<string, string>;
  readonly Labels: Record<string, string>;
}

/** The Engine API create body for a spec (validates names, server, export and options). */
export function volumeRequest(spec: VolumeSpec): VolumeRequest {
  if (!VOLUME_NAME.test(spec.name))
    throw new Error(`invalid Docker volume name ${JSON.stringify(spec.name)}`);
  const labels = { [MANAGED_LABEL]: 'true' };
  if (spec.driver === 'local') {
    if (spec.server !== undefined || spec.export !== undefined) {
      throw new Error(`volume ${spec.name}: a local volume takes no NFS server or export`);
    }
    return { Name: spec.name, Driver: 'local', DriverOpts: {}, Labels: labels };
  }
  const server = spec.server ?? '';
  if (isIP(server) === 0 && !HOSTNAME.test(server)) {
    throw new Error(`volume ${spec.name}: invalid NFS server ${JSON.stringify(server)}`);
  }
  const exported = spec.export ?? '';
  if (!EXPORT_PATH.test(exported) || exported.split('/').includes('..')) {
    throw new Error(`volume ${spec.name}: invalid NFS export ${JSON.stringify(exported)}`);
  }
  if (spec.options !== undefined && (!MOUNT_OPTIONS.test(spec.options) || /(^|,)addr=/.test(spec.options))) {
    throw new Error(`volume ${spec.name}: invalid NFS mount options ${JSON.stringify(spec.options)}`);
  }
  const o = spec.options ? `addr=${server},${spec.options}` : `addr=${server}`;
  return {
    Name: spec.name,
    Driver: 'local',
    DriverOpts: { type: 'nfs', o, device: `:${exported}` },
    Labels: labels,
  };
}

export async function listVolumes(client: PortainerClient, endpointId: number): Promise<DockerVolume[]> {
  const answer = await client.json<{ Volumes?: DockerVolume[] | null }>(
    'GET',
    dockerPath(endpointId, '/volumes'),
  );
  return answer.Volumes ?? [];
}

/** Docker's `name` filter matches substrings: the exact match is made here. */
export async function findVolume(
  client: PortainerClient,
  endpointId: number,
  name: string,
): Promise<DockerVolume | undefined> {
  const answer = await client.json<{ Volumes?: DockerVolume[] | null }>(
    'GET',
    dockerPath(endpointId, '/volumes'),
    {
      query: { filters: JSON.stringify({ name: [name] }) },
    },
  );
  return (answer.Volumes ?? []).find((v) => v.Name === name);
}

/** Differences between an existing volume and the spec (empty when it matches). */
export function volumeDrift(found: DockerVolume, spec: VolumeSpec): string[] {
  const wanted = volumeRequest(spec);
  const drift: string[] = [];
  if (found.Driver !== wanted.Driver) drift.push(`driver is ${found.Driver}, declared ${wanted.Driver}`);
  const have = found.Options ?? {};
  for (const key of new Set([...Object.keys(have), ...Object.keys(wanted.DriverOpts)])) {
    if (have[key] !== wanted.DriverOpts[key]) {
      drift.push(
        `option ${key} is ${JSON.stringify(have[key] ?? null)}, declared ${JSON.stringify(wanted.DriverOpts[key] ?? null)}`,
      );
    }
  }
  return drift;
}

export async function createVolume(
  client: PortainerClient,
  endpointId: number,
  spec: VolumeSpec,
): Promise<DockerVolume> {
  return client.json<DockerVolume>('POST', dockerPath(endpointId, '/volumes/create'), {
    json: volumeRequest(spec),
    expect: [201, 200],
  });
}

export interface EnsureVolumeResult {
  readonly volume: DockerVolume;
  readonly created: boolean;
}

/** Find by exact name; create when absent; verify it is listed afterwards with the declared options. */
export async function ensureVolume(
  client: PortainerClient,
  endpointId: number,
  spec: VolumeSpec,
): Promise<EnsureVolumeResult> {
  volumeRequest(spec); // validate before any call
  const found = await findVolume(client, endpointId, spec.name);
  if (found !== undefined) {
    checkVolume(found, spec, endpointId);
    return { volume: found, created: false };
  }
  try {
    await createVolume(client, endpointId, spec);
  } catch (err) {
    if (err instanceof PortainerApiError && err.status === 409) {
      throw new PortainerVerifyError(
        `volume ${spec.name} on environment ${endpointId} exists with another driver: ${err.apiMessage}`,
      );
    }
    throw err;
  }
  const listed = await findVolume(client, endpointId, spec.name);
  if (listed === undefined) {
    throw new PortainerVerifyError(
      `volume ${spec.name} was created on environment ${endpointId} but is not listed`,
    );
  }
  checkVolume(listed, spec, endpointId);
  return { volume: listed, created: true };
}

function checkVolume(found: DockerVolume, spec: VolumeSpec, endpointId: number): void {
  const drift = volumeDrift(found, spec);
  if (drift.length > 0) {
    throw new PortainerVerifyError(
      `volume ${spec.name} on environment ${endpointId} exists with other settings (${drift.join('; ')}); ` +
        `Phoenix does not remove volumes — move its data and remove it by hand, or change the configuration`,
    );
  }
}
