import { createHash } from 'node:crypto';
import type * as Yaml from 'yaml';
import type { WorldBind, WorldPort } from './world.js';

/**
 * What `docker compose up` needs to know before it starts anything: services, their container names and
 * named volumes, and the stack's volume declarations. Deliberately independent of src/config/compose.ts:
 * the emulator plays Docker's part and should not share a bug with the validator it is checking.
 */

export interface ScannedService {
  readonly name: string;
  readonly container: string;
  readonly volumes: readonly string[];
  readonly restart?: string;
  /** Hash of the service definition: compose recreates a container only when it changed. */
  readonly configHash: string;
  /** What Docker records of the definition (image, argv, published ports, mounts); unparsable entries are left out. */
  readonly image?: string;
  readonly command?: string[];
  readonly ports: readonly WorldPort[];
  readonly binds: readonly WorldBind[];
}

export interface ScannedCompose {
  readonly services: readonly ScannedService[];
  /** Declared volumes: key → the Docker volume name, and whether something else must create it. */
  readonly volumes: ReadonlyArray<{
    readonly key: string;
    readonly name: string;
    readonly external: boolean;
  }>;
}

type YamlModule = typeof Yaml;
let yamlModule: Promise<YamlModule> | undefined;

/** Throws an Error with compose's wording when the file would be rejected. */
export async function scanCompose(
  project: string,
  text: string,
  env: Readonly<Record<string, string>>,
): Promise<ScannedCompose> {
  const YAML = await (yamlModule ??= import('yaml'));
  const data = YAML.parse(interpolate(text, env)) as unknown;
  if (!isRecord(data) || !isRecord(data.services)) throw new Error('services must be a mapping');
  const volumes = Object.entries(isRecord(data.volumes) ? data.volumes : {}).map(([key, def]) => {
    const spec = isRecord(def) ? def : {};
    const external = spec.external === true || isRecord(spec.external);
    // `external: { name: x }` is the older spelling of `external: true` + `name: x`.
    const legacyName =
      isRecord(spec.external) && typeof spec.external.name === 'string' ? spec.external.name : undefined;
    const explicit = legacyName ?? (typeof spec.name === 'string' ? spec.name : undefined);
    return { key, name: explicit ?? (external ? key : `${project}_${key}`), external };
  });
  const declared = new Set(volumes.map((v) => v.key));
  const services = Object.entries(data.services).map(([name, def]): ScannedService => {
    if (!isRecord(def)) throw new Error(`service "${name}" must be a mapping`);
    const used = namedVolumes(def.volumes);
    const undeclared = used.find((v) => !declared.has(v));
    if (undeclared !== undefined) {
      throw new Error(`service "${name}" refers to undefined volume ${undeclared}: invalid compose project`);
    }
    const command = commandArgv(def.command);
    return {
      name,
      container: typeof def.container_name === 'string' ? def.container_name : `${project}-${name}-1`,
      volumes: used,
      ...(typeof def.restart === 'string' ? { restart: def.restart } : {}),
      configHash: createHash('sha256').update(JSON.stringify(def)).digest('hex'),
      ...(typeof def.image === 'string' ? { image: def.image } : {}),
      ...(command ? { command } : {}),
      ports: Array.isArray(def.ports) ? def.ports.flatMap(publishedPorts) : [],
      binds: mounts(def.volumes, (key) => volumes.find((v) => v.key === key)?.name ?? key),
    };
  });
  return { services, volumes };
}

/** Compose's variable substitution: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, $VAR (unset is empty). */
function interpolate(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(
    /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_m, dollar: string, braced?: string, op?: string, fallback?: string, bare?: string) => {
      if (dollar === '$') return '$';
      const value = env[(braced ?? bare)!];
      if (op === ':-' && !value) return fallback ?? '';
      if (op === '-' && value === undefined) return fallback ?? '';
      return value ?? '';
    },
  );
}

function namedVolumes(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((item: unknown) => {
    if (typeof item === 'string') {
      const [source = '', target] = item.split(':');
      // Bind mounts start with / . or ~; a lone path is an anonymous volume.
      return target !== undefined && !/^[/.~]/.test(source) ? [source] : [];
    }
    if (isRecord(item) && item.type === 'volume' && typeof item.source === 'string') return [item.source];
    return [];
  });
}

/** `command:` as an argv: a list as is; a string split like compose does (shlex: quotes, backslashes). */
function commandArgv(value: unknown): string[] | undefined {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== 'string') return undefined;
  const argv: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  const add = (c: string) => (word = (word ?? '') + c);
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    const escaped = c === '\\' && i + 1 < value.length && quote !== "'";
    if (escaped) add(value[++i]!);
    else if (quote) {
      if (c === quote) quote = undefined;
      else add(c);
    } else if (/\s/.test(c)) {
      if (word !== undefined) argv.push(word);
      word = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
      add('');
    } else add(c);
  }
  if (word !== undefined) argv.push(word);
  return argv;
}

const PORT = /^(\d{1,5})(?:-(\d{1,5}))?$/;

/** A port range "a-b" (or one port) as a list; undefined when it is not one. */
function portRange(text: string): number[] | undefined {
  const m = PORT.exec(text);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || to < from) return undefined;
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** `ports:` entries, short (`[IP:][HOST:]CONTAINER[/PROTO]`, ranges expanded) or long syntax. */
function publishedPorts(entry: unknown): WorldPort[] {
  let hostIp: string | undefined;
  let host: string | undefined;
  let container: string;
  let protocol = 'tcp';
  if (isRecord(entry)) {
    container = String(entry.target ?? '');
    host = entry.published === undefined ? undefined : String(entry.published);
    hostIp = typeof entry.host_ip === 'string' ? entry.host_ip : undefined;
    if (typeof entry.protocol === 'string') protocol = entry.protocol;
  } else if (typeof entry === 'string' || typeof entry === 'number') {
    let text = String(entry);
    const slash = text.lastIndexOf('/');
    if (slash >= 0) [text, protocol] = [text.slice(0, slash), text.slice(slash + 1)];
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(text);
    if (v6) [hostIp, text] = [v6[1], v6[2]!];
    const parts = text.split(':');
    container = parts.pop()!;
    if (parts.length > 0) host = parts.pop()!;
    if (parts.length > 0) hostIp = parts.join(':');
  } else {
    return [];
  }
  if (protocol !== 'tcp' && protocol !== 'udp') return [];
  const proto: WorldPort['protocol'] = protocol;
  const targets = portRange(container);
  const hosts = host === undefined || host === '' ? undefined : portRange(host);
  if (!targets) return [];
  return targets.map((port, i) => ({
    container: port,
    ...(hosts && hosts.length === targets.length ? { host: hosts[i]! } : {}),
    ...(hostIp ? { hostIp } : {}),
    protocol: proto,
  }));
}

/** `volumes:` of a service as mounts: host paths as given, named volumes by their Docker name. */
function mounts(list: unknown, volumeName: (key: string) => string): WorldBind[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((item: unknown): WorldBind[] => {
    if (typeof item === 'string') {
      const [source = '', target, mode = ''] = item.split(':');
      if (target === undefined) return []; // an anonymous volume
      const readOnly = mode.split(',').includes('ro');
      return /^[/.~]/.test(source)
        ? [{ type: 'bind', source, target, readOnly }]
        : [{ type: 'volume', source: volumeName(source), target, readOnly }];
    }
    if (!isRecord(item) || typeof item.source !== 'string' || typeof item.target !== 'string') return [];
    if (item.type !== 'bind' && item.type !== 'volume') return [];
    return [
      {
        type: item.type,
        source: item.type === 'volume' ? volumeName(item.source) : item.source,
        target: item.target,
        readOnly: item.read_only === true,
      },
    ];
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
