import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackEndpoint } from './binary.js';
import { prepareCa, startCa, stopCa } from './ca.js';
import type { PreparedCa, RunningCa } from './ca.js';

export interface LaunchOptions {
  readonly binary: string;
  readonly jwkProvisioner: string;
  readonly provisionerPassword: string;
  readonly acmeProvisioner?: string;
  readonly dnsNames?: readonly string[];
  /** Parent of the CA's temporary directory; default os.tmpdir(). */
  readonly parentDir?: string;
  readonly startTimeoutMs?: number;
}

export interface LaunchedCa extends RunningCa {
  readonly dir: string;
  readonly prepared: PreparedCa;
  /** Stops the process by pid and removes the directory; safe to call more than once. */
  stop(): Promise<void>;
}

const ATTEMPTS = 3;

/**
 * A throwaway step-ca on a random 127.0.0.x and free port, in a fresh temporary directory: what tests and
 * quick lab runs want. A start that loses its port to another process between the probe and the bind is
 * retried on a new endpoint.
 */
export async function launchStepCa(options: LaunchOptions): Promise<LaunchedCa> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'phoenix-step-ca-'));
    try {
      const endpoint = await freeLoopbackEndpoint();
      const prepared = await prepareCa(dir, {
        ...endpoint,
        jwkProvisioner: options.jwkProvisioner,
        provisionerPassword: options.provisionerPassword,
        dnsNames: options.dnsNames ?? ['localhost'],
        ...(options.acmeProvisioner === undefined ? {} : { acmeProvisioner: options.acmeProvisioner }),
      });
      const running = await startCa(
        dir,
        options.binary,
        options.startTimeoutMs === undefined ? {} : { timeoutMs: options.startTimeoutMs },
      );
      let stopped = false;
      return {
        ...running,
        dir,
        prepared,
        async stop() {
          if (stopped) return;
          stopped = true;
          try {
            await stopCa(running.pid);
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        },
      };
    } catch (err) {
      lastError = err;
      await rm(dir, { recursive: true, force: true });
      if (!/address already in use/i.test(String((err as Error).message))) throw err;
    }
  }
  throw lastError;
}
