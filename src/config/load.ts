import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, isAbsolute } from 'node:path';
import type { z } from 'zod';
import { parseCompose, type ComposeModel } from './compose.js';
import { Diagnostics } from './diagnostics.js';
import {
  CERT_FILE,
  COMPOSE_FILE,
  HYPERVISOR_FILE,
  LXC_FILE,
  STACKS_DIR,
  STACK_FILE,
  VM_FILE,
} from './files.js';
import { reportSchemaIssues } from './schema-issues.js';
import { certificateManifest, type CertificateManifest } from './schema/certificates.js';
import { lxcConfigFile, vmConfigFile, type LxcConfigFile, type VmConfigFile } from './schema/guest.js';
import { hypervisorConfig, type HypervisorConfig } from './schema/hypervisor.js';
import { SAFE_NAME_RE } from './schema/common.js';
import { stackConfig, type StackConfig } from './schema/stack.js';
import { describeFsError, parseJson, readSource, SourceError, type SourceFile } from './source.js';

export interface Loaded<T> {
  readonly data: T;
  /** The file's display path: diagnostics name it. */
  readonly file: string;
}

export interface LoadedStack {
  readonly name: string;
  readonly dir: string;
  readonly file: string;
  readonly composeFile: string;
  readonly config?: StackConfig;
  readonly compose?: ComposeModel;
  readonly composeText?: string;
}

/** Every config file, parsed and schema-checked; parts that failed are absent and explained in `diagnostics`. */
export interface RawConfig {
  readonly dir: string;
  readonly hypervisor?: Loaded<HypervisorConfig>;
  readonly lxc?: Loaded<LxcConfigFile>;
  readonly vm?: Loaded<VmConfigFile>;
  readonly certificates?: Loaded<CertificateManifest>;
  readonly stacks: ReadonlyMap<string, LoadedStack>;
  readonly stacksDir?: string;
  readonly sources: ReadonlyMap<string, SourceFile>;
}

export interface LoadResult {
  readonly raw: RawConfig;
  readonly diagnostics: Diagnostics;
}

export function displayPath(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** Reads and schema-checks a config directory. Never throws for bad input: every problem becomes a diagnostic. */
export async function loadConfigDir(dirOption: string): Promise<LoadResult> {
  const diags = new Diagnostics();
  const dir = resolve(dirOption);
  const sources = new Map<string, SourceFile>();
  const shownDir = displayPath(dir);
  try {
    if (!statSync(dir).isDirectory()) {
      diags.error({ file: shownDir, pointer: '' }, 'config.dir', 'is not a directory');
      return { raw: { dir, stacks: new Map(), sources }, diagnostics: diags };
    }
  } catch (e) {
    diags.error({ file: shownDir, pointer: '' }, 'config.dir', `config directory ${describeFsError(e)}`);
    return { raw: { dir, stacks: new Map(), sources }, diagnostics: diags };
  }

  const load = <S extends z.ZodType>(
    name: string,
    schema: S,
    required: boolean,
  ): Loaded<z.infer<S>> | undefined => {
    const path = join(dir, name);
    const shown = displayPath(path);
    const data = readJson(path, shown, required, diags, sources);
    if (data === undefined) return undefined;
    const parsed = schema.safeParse(data, { reportInput: true });
    if (!parsed.success) {
      reportSchemaIssues(parsed.error.issues, shown, diags);
      return undefined;
    }
    return { data: parsed.data as z.infer<S>, file: shown };
  };

  const hypervisor = load(HYPERVISOR_FILE, hypervisorConfig, true);
  const lxc = load(LXC_FILE, lxcConfigFile, false);
  const vm = load(VM_FILE, vmConfigFile, false);
  const certificates = load(CERT_FILE, certificateManifest, false);
  const { stacks, stacksDir } = await loadStacks(dir, diags, sources);
  return { raw: { dir, hypervisor, lxc, vm, certificates, stacks, stacksDir, sources }, diagnostics: diags };
}

function readJson(
  path: string,
  shown: string,
  required: boolean,
  diags: Diagnostics,
  sources: Map<string, SourceFile>,
): unknown {
  let src: SourceFile;
  try {
    src = readSource(path, shown);
  } catch (e) {
    if (e instanceof SourceError) {
      if (!required && e.message === 'does not exist') return undefined;
      diags.error({ file: shown, pointer: '' }, 'file.read', `file ${e.message}`);
      return undefined;
    }
    throw e;
  }
  sources.set(shown, src);
  try {
    return parseJson(src);
  } catch (e) {
    if (!(e instanceof SourceError)) throw e;
    diags.items.push({
      severity: 'error',
      code: 'file.parse',
      file: shown,
      pointer: '',
      message: e.message,
      ...(e.offset !== undefined ? src.position(e.offset) : {}),
    });
    return undefined;
  }
}

/** Stacks live in <config>/stacks, or beside it as in the original layout (<root>/etc + <root>/stacks). */
function findStacksDir(dir: string): string | undefined {
  for (const candidate of [join(dir, STACKS_DIR), join(dir, '..', STACKS_DIR)]) {
    try {
      if (statSync(candidate).isDirectory()) return candidate;
    } catch {
      // not there: try the next place
    }
  }
  return undefined;
}

async function loadStacks(
  dir: string,
  diags: Diagnostics,
  sources: Map<string, SourceFile>,
): Promise<{ stacks: Map<string, LoadedStack>; stacksDir?: string }> {
  const stacks = new Map<string, LoadedStack>();
  const stacksDir = findStacksDir(dir);
  if (!stacksDir) return { stacks };
  let entries: string[];
  try {
    entries = readdirSync(stacksDir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch (e) {
    diags.error(
      { file: displayPath(stacksDir), pointer: '' },
      'file.read',
      `stacks directory ${describeFsError(e)}`,
    );
    return { stacks, stacksDir };
  }
  for (const name of entries) {
    const stackDir = join(stacksDir, name);
    const file = displayPath(join(stackDir, STACK_FILE));
    const composeFile = displayPath(join(stackDir, COMPOSE_FILE));
    if (!SAFE_NAME_RE.test(name)) {
      diags.error(
        { file: displayPath(stackDir), pointer: '' },
        'name.unsafe',
        `stack directory name "${name}" contains characters that are not allowed in names`,
      );
      continue;
    }
    let config: StackConfig | undefined;
    const data = readJson(join(stackDir, STACK_FILE), file, true, diags, sources);
    if (data !== undefined) {
      const parsed = stackConfig.safeParse(data, { reportInput: true });
      if (parsed.success) config = parsed.data;
      else reportSchemaIssues(parsed.error.issues, file, diags);
    }
    let compose: ComposeModel | undefined;
    let composeText: string | undefined;
    try {
      const src = readSource(join(stackDir, COMPOSE_FILE), composeFile);
      sources.set(composeFile, src);
      composeText = src.text;
      compose = await parseCompose(src, diags);
    } catch (e) {
      if (!(e instanceof SourceError)) throw e;
      diags.error({ file: composeFile, pointer: '' }, 'file.read', `file ${e.message}`);
    }
    stacks.set(name, { name, dir: stackDir, file, composeFile, config, compose, composeText });
  }
  return { stacks, stacksDir };
}
