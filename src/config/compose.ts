import type * as Yaml from 'yaml';
import type { Diagnostics } from './diagnostics.js';
import type { SourceFile } from './source.js';

/** What Phoenix needs to know of a docker-compose file: services, their containers and volumes. */
export interface ComposeService {
  readonly name: string;
  readonly containerName?: string;
  readonly image?: string;
  /** Named volumes the service mounts. */
  readonly volumes: readonly string[];
  /** Absolute host paths the service bind-mounts: files Phoenix installs there must exist first. */
  readonly bindMounts: readonly string[];
  readonly labels: readonly string[];
}

export interface ComposeModel {
  readonly services: readonly ComposeService[];
  /** Volumes declared `external: true`: something outside the stack must create them first. */
  readonly externalVolumes: readonly string[];
  readonly namedVolumes: readonly string[];
}

type YamlModule = typeof Yaml;
let yamlModule: YamlModule | undefined;

/** yaml is loaded only when a stack is read, so commands that never touch stacks start faster. */
async function loadYaml(): Promise<YamlModule> {
  return (yamlModule ??= await import('yaml'));
}

export async function parseCompose(src: SourceFile, diags: Diagnostics): Promise<ComposeModel | undefined> {
  const YAML = await loadYaml();
  const doc = YAML.parseDocument(src.text, { prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const pos = src.position(err.pos[0]);
    diags.items.push({
      severity: 'error',
      code: 'compose.syntax',
      file: src.displayPath,
      pointer: '',
      message: `invalid YAML: ${err.message.split('\n')[0]}`,
      ...pos,
    });
    return undefined;
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const at = (message: string, pointer = '') =>
    diags.error({ file: src.displayPath, pointer }, 'compose.shape', message);
  if (!isRecord(data)) {
    at('a compose file must be a mapping with a "services" key');
    return undefined;
  }
  const services: ComposeService[] = [];
  if (!isRecord(data.services)) {
    at('"services" must be a mapping of service names to definitions', '/services');
  } else {
    for (const [name, def] of Object.entries(data.services)) {
      if (!isRecord(def)) {
        at(`service "${name}" must be a mapping`, `/services/${name}`);
        continue;
      }
      services.push({
        name,
        containerName: typeof def.container_name === 'string' ? def.container_name : undefined,
        image: typeof def.image === 'string' ? def.image : undefined,
        volumes: namedVolumesOf(def.volumes),
        bindMounts: bindMountsOf(def.volumes),
        labels: labelsOf(def.labels),
      });
    }
  }
  const externalVolumes: string[] = [];
  const namedVolumes: string[] = [];
  if (isRecord(data.volumes)) {
    for (const [name, def] of Object.entries(data.volumes)) {
      namedVolumes.push(name);
      if (isRecord(def) && (def.external === true || isRecord(def.external))) {
        externalVolumes.push(typeof def.name === 'string' ? def.name : name);
      }
    }
  }
  return { services, externalVolumes, namedVolumes };
}

function namedVolumesOf(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const item of v) {
    if (typeof item === 'string') {
      const source = item.split(':')[0] ?? '';
      // Bind mounts start with / . or ~; everything else before the colon names a volume.
      if (item.includes(':') && source && !/^[/.~$]/.test(source)) out.push(source);
    } else if (isRecord(item) && item.type === 'volume' && typeof item.source === 'string') {
      out.push(item.source);
    }
  }
  return out;
}

function bindMountsOf(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const item of v) {
    if (typeof item === 'string' && item.startsWith('/') && item.includes(':')) out.push(item.split(':')[0]!);
    else if (
      isRecord(item) &&
      item.type === 'bind' &&
      typeof item.source === 'string' &&
      item.source.startsWith('/')
    ) {
      out.push(item.source);
    }
  }
  return out;
}

function labelsOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  if (isRecord(v)) return Object.entries(v).map(([k, val]) => `${k}=${String(val)}`);
  return [];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
