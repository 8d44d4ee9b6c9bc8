import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** scripts/build-step-ca.sh, found by walking up from this file (works from src/ and from dist/src/). */
export async function findBuildScript(from = dirname(fileURLToPath(import.meta.url))): Promise<string> {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'scripts', 'build-step-ca.sh');
    try {
      await access(candidate, constants.R_OK);
      return candidate;
    } catch {
      // keep walking up
    }
    if (dirname(dir) === dir) throw new Error(`scripts/build-step-ca.sh not found above ${from}`);
  }
}

/** The build script could not install its packages (not root, apt-get failed): step-ca cannot exist here. */
export class StepCaUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepCaUnavailable';
  }
}

export interface BuildResult {
  readonly binary: string;
  readonly ms: number;
}

/**
 * Runs scripts/build-step-ca.sh (installs the Debian packages if missing, builds offline, caches outside the
 * repository; a no-op when cached) and returns the binary path, the script's last stdout line.
 * `$STEP_CA_BINARY`, when set, is used as is. Throws StepCaUnavailable when the packages cannot be installed.
 */
export async function ensureStepCaBinary(timeoutMs = 15 * 60_000): Promise<BuildResult> {
  const started = Date.now();
  const preset = process.env.STEP_CA_BINARY;
  if (preset) {
    await access(preset, constants.X_OK);
    return { binary: preset, ms: 0 };
  }
  const script = await findBuildScript();
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile('bash', [script], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, out, errOut) => {
      if (err) {
        const tail = String(errOut).trimEnd().split('\n').slice(-15).join('\n');
        const message = `${script} failed (${err.message.split('\n')[0]}):\n${tail}`;
        reject(err.code === 3 ? new StepCaUnavailable(message) : new Error(message));
      } else {
        resolve(String(out));
      }
    });
  });
  const binary = stdout.trimEnd().split('\n').pop() ?? '';
  await access(binary, constants.X_OK);
  return { binary, ms: Date.now() - started };
}

/**
 * A random 127.0.0.x (x in 2..254) and a port that was free on it a moment ago: parallel suites get
 * different endpoints. (The port is released before use; a collision in between is possible but unlikely.)
 */
export async function freeLoopbackEndpoint(): Promise<{ address: string; port: number }> {
  const address = `127.0.0.${2 + Math.floor(Math.random() * 253)}`;
  const port = await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, address, () => {
      const info = server.address();
      const found = typeof info === 'object' && info !== null ? info.port : 0;
      server.close(() => resolve(found));
    });
  });
  return { address, port };
}
