import { createHash } from 'node:crypto';
import type * as Yaml from 'yaml';

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
    return {
      name,
      container: typeof def.container_name === 'string' ? def.container_name : `${project}-${name}-1`,
      volumes: used,
      ...(typeof def.restart === 'string' ? { restart: def.restart } : {}),
      configHash: createHash('sha256').update(JSON.stringify(def)).digest('hex'),
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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
