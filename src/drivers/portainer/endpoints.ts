import { isIP } from 'node:net';
import type { PortainerClient } from './client.js';
import { PortainerApiError, PortainerVerifyError } from './errors.js';
import { multipartForm, urlEncodedForm } from './form.js';
import type { FormFields } from './form.js';
import { ENDPOINT_TYPE } from './types.js';
import type { PortainerEnvironment } from './types.js';

/**
 * Environments (Portainer's "endpoints"), swagger EndpointList / EndpointCreate.
 *
 * Find: `GET /api/endpoints?name=NAME` ("will return only environments with this name"); the answer is
 * filtered again here for an exact, case-sensitive match, since older servers ignore `name` and return all.
 *
 * Create an agent environment: `POST /api/endpoints` as a **form** (the handler reads every field with
 * `FormValue`; a JSON body yields 400 "invalid environment name"). Fields: `Name`, `EndpointCreationType=2`
 * (agent), `URL=tcp://HOST:9001`, `GroupID`, and TLS as the documentation requires for agents: `TLS=true`,
 * `TLSSkipVerify` (documented "must be true" for the agent's self-signed certificate; when false, the CA that
 * issued the agent's certificate is uploaded as the `TLSCACertFile` part of a multipart form) and
 * `TLSSkipClientVerify=true` (the agent does not check a client certificate; it authenticates Portainer by
 * its signature). Portainer answers 409 "Name is not unique" for a duplicate; a lookup by name comes first,
 * so a second run finds the environment instead of creating another.
 */

export interface AgentEnvironmentSpec {
  readonly name: string;
  /** Host name or IP address of the agent's VM (no scheme, no port). */
  readonly host: string;
  /** Default 9001. */
  readonly port?: number;
  /** Default true, as the agent's documentation says. */
  readonly tlsSkipVerify?: boolean;
  /** Required when tlsSkipVerify is false: the CA that issued the agent's certificate (PEM). */
  readonly agentCaPem?: string;
  /** Default 1 (Unassigned). */
  readonly groupId?: number;
}

export interface EnsureEnvironmentResult {
  readonly environment: PortainerEnvironment;
  readonly created: boolean;
}

const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export async function findEnvironment(
  client: PortainerClient,
  name: string,
): Promise<PortainerEnvironment | undefined> {
  const list = await client.json<PortainerEnvironment[]>('GET', '/api/endpoints', { query: { name } });
  if (!Array.isArray(list)) {
    throw new PortainerApiError(
      'unexpected',
      'GET',
      '/api/endpoints',
      200,
      'the answer is not a list',
      undefined,
    );
  }
  const matches = list.filter((e) => e.Name === name);
  if (matches.length > 1) {
    throw new PortainerVerifyError(
      `Portainer has ${matches.length} environments named ${JSON.stringify(name)} (ids ${matches
        .map((e) => e.Id)
        .join(', ')}); remove the duplicates by hand — Phoenix will not guess which one is meant`,
    );
  }
  return matches[0];
}

export function agentUrl(spec: Pick<AgentEnvironmentSpec, 'host' | 'port'>): string {
  const port = spec.port ?? 9001;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid agent port ${port}`);
  const host = spec.host;
  if (isIP(host) === 6) return `tcp://[${host}]:${port}`;
  if (isIP(host) === 0 && !HOSTNAME.test(host)) throw new Error(`invalid agent host ${JSON.stringify(host)}`);
  return `tcp://${host}:${port}`;
}

/** The request body for an agent environment (exported for tests of the encoding). */
export function agentEnvironmentForm(spec: AgentEnvironmentSpec) {
  if (!ENV_NAME.test(spec.name))
    throw new Error(`invalid Portainer environment name ${JSON.stringify(spec.name)}`);
  const skipVerify = spec.tlsSkipVerify ?? true;
  const fields: FormFields = [
    ['Name', spec.name],
    ['EndpointCreationType', String(ENDPOINT_TYPE.agentOnDocker)],
    ['URL', agentUrl(spec)],
    ['GroupID', String(spec.groupId ?? 1)],
    ['TLS', 'true'],
    ['TLSSkipVerify', String(skipVerify)],
    ['TLSSkipClientVerify', 'true'],
  ];
  if (skipVerify) return urlEncodedForm(fields);
  if (spec.agentCaPem === undefined) {
    throw new Error(`environment ${spec.name}: TLSSkipVerify=false needs the agent's CA certificate`);
  }
  return multipartForm(fields, [['TLSCACertFile', { filename: 'ca.pem', content: spec.agentCaPem }]]);
}

export async function createAgentEnvironment(
  client: PortainerClient,
  spec: AgentEnvironmentSpec,
): Promise<PortainerEnvironment> {
  return client.json<PortainerEnvironment>('POST', '/api/endpoints', { form: agentEnvironmentForm(spec) });
}

/** Find by name; create only when absent; check the found one points at the declared agent. */
export async function ensureAgentEnvironment(
  client: PortainerClient,
  spec: AgentEnvironmentSpec,
): Promise<EnsureEnvironmentResult> {
  agentEnvironmentForm(spec); // validates the spec before any call
  const found = await findEnvironment(client, spec.name);
  if (found !== undefined) {
    checkEnvironment(found, spec);
    return { environment: found, created: false };
  }
  const created = await createAgentEnvironment(client, spec);
  const again = await findEnvironment(client, spec.name);
  if (again === undefined || again.Id !== created.Id) {
    throw new PortainerVerifyError(
      `environment ${spec.name} was created (id ${created.Id}) but is not listed`,
    );
  }
  checkEnvironment(again, spec);
  return { environment: again, created: true };
}

/** Differences between an existing environment and the declared agent (empty when none). */
export function environmentDrift(found: PortainerEnvironment, spec: AgentEnvironmentSpec): string[] {
  const drift: string[] = [];
  const url = agentUrl(spec);
  if (found.URL !== url) drift.push(`URL is ${found.URL}, declared ${url}`);
  if (found.Type !== ENDPOINT_TYPE.agentOnDocker) {
    drift.push(`type is ${found.Type}, declared ${ENDPOINT_TYPE.agentOnDocker} (agent on Docker)`);
  }
  if (found.TLSConfig?.TLS === false) drift.push('TLS is off, the agent requires it');
  return drift;
}

function checkEnvironment(found: PortainerEnvironment, spec: AgentEnvironmentSpec): void {
  const drift = environmentDrift(found, spec);
  if (drift.length > 0) {
    throw new PortainerVerifyError(
      `Portainer environment ${JSON.stringify(spec.name)} (id ${found.Id}) differs from the configuration: ${drift.join('; ')}`,
    );
  }
}
