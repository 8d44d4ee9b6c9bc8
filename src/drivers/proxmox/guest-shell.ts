import { DriverError } from '../errors.js';
import type { ExecOptions, ExecResult, FileAttrs } from '../hypervisor/types.js';
import type { PveApi } from './api/client.js';
import { agentExec, agentReadFile, agentWriteFile } from './api/agent.js';
import type { CallOptions } from './api/resources.js';
import { check } from './cli/errors.js';
import type { Pct } from './cli/pct.js';
import type { CommandRunner } from './cli/runner.js';
import { readHostFile } from './cli/staging.js';

/**
 * One way into one target: run an argv, put bytes at a path, get bytes from a path. Three kinds:
 * an LXC through `pct` (exec and push are not in the REST API), a VM through the QEMU guest agent over the
 * API, the host through the node runner. files.ts builds the atomic file operations on top of these.
 * `put` is not atomic (callers put a staging name and rename it) and applies the attributes.
 */
export interface GuestShell {
  readonly label: string;
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  put(path: string, content: Uint8Array, attrs: FileAttrs): Promise<void>;
  get(path: string): Promise<Uint8Array>;
}

const ownerOf = (attrs: FileAttrs) => `${attrs.owner}:${attrs.group}`;
const modeOf = (attrs: FileAttrs) => attrs.mode.toString(8).padStart(4, '0');

/** chown then chmod through exec (in this order: chown clears setuid/setgid bits). */
async function applyAttrs(shell: GuestShell, path: string, attrs: FileAttrs): Promise<void> {
  for (const argv of [
    ['chown', ownerOf(attrs), path],
    ['chmod', modeOf(attrs), path],
  ]) {
    const r = await shell.exec(argv);
    if (r.exitCode !== 0)
      throw new DriverError(
        `${shell.label}: ${argv[0]} ${path} failed (exit ${r.exitCode}): ${r.stderr.trim()}`,
      );
  }
}

export function lxcShell(pct: Pct, vmid: number, signal?: AbortSignal): GuestShell {
  const sig = signal ? { signal } : {};
  return {
    label: `CT ${vmid}`,
    async exec(argv, opts = {}) {
      const r = await pct.exec(vmid, argv, {
        ...sig,
        ...(opts.input ? { input: opts.input } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      });
      return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
    },
    // pct push resolves user and group names inside the container and applies the mode in one step.
    put: (path, content, attrs) =>
      pct.push(vmid, path, content, { user: attrs.owner, group: attrs.group, perms: attrs.mode }),
    get: (path) => pct.pull(vmid, path),
  };
}

export function vmShell(api: PveApi, vm: { node: string; vmid: number }, call: CallOptions): GuestShell {
  const shell: GuestShell = {
    label: `VM ${vm.vmid}`,
    async exec(argv, opts = {}) {
      let input: string | undefined;
      if (opts.input) {
        // The agent's input-data is a string: only text input can pass through it unchanged.
        input = new TextDecoder('utf-8', { fatal: true }).decode(opts.input);
      }
      const r = await agentExec(api, vm, argv, {
        ...call,
        ...(input !== undefined ? { input } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      });
      return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
    },
    async put(path, content, attrs) {
      await agentWriteFile(api, vm, path, content, call);
      await applyAttrs(shell, path, attrs);
    },
    get: async (path) => new Uint8Array(await agentReadFile(api, vm, path, call)),
  };
  return shell;
}

export function hostShell(runner: CommandRunner, signal?: AbortSignal): GuestShell {
  const sig = signal ? { signal } : {};
  const shell: GuestShell = {
    label: `host (${runner.describe})`,
    async exec(argv, opts = {}) {
      const r = await runner.run(argv, {
        ...sig,
        ...(opts.input ? { input: opts.input } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        what: argv[0] ?? 'command',
      });
      return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
    },
    async put(path, content, attrs) {
      check(
        `writing ${path} on the host`,
        await runner.run(['dd', `of=${path}`, 'bs=65536', 'status=none'], {
          ...sig,
          input: content,
          what: 'dd',
        }),
      );
      await applyAttrs(shell, path, attrs);
    },
    get: (path) => readHostFile(runner, path),
  };
  return shell;
}
