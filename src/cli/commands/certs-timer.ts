import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { resolveStateDir } from '../../engine/state-dir.js';
import { EXIT } from '../exit-codes.js';
import { writeFileAtomically } from './certs-common.js';
import { UsageError } from './engine-options.js';

export const SERVICE_NAME = 'phoenix-certs-renew.service';
export const TIMER_NAME = 'phoenix-certs-renew.timer';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
export const DEFAULT_METRICS_FILE = '/var/lib/prometheus/node-exporter/phoenix_certs.prom';

export interface InstallTimerOptions {
  configDir: string;
  stateDir?: string;
  labDir?: string;
  driver?: string;
  /** Whether --lab-dir or $PHOENIX_LAB_DIR chose the lab directory (else it is the cwd-relative default). */
  labDirGiven?: boolean;
  unitDir?: string;
  onCalendar?: string;
  randomizedDelay?: string;
  /** false: --no-metrics-file. */
  metricsFile?: string | false;
  dryRun?: boolean;
}

/**
 * Paths that go into a unit file: absolute, and made only of characters that mean nothing to systemd's
 * unit parser, its specifier expansion (%) and variable substitution ($), or to a shell, should anyone
 * copy the command line into one. Spaces are allowed; such arguments are quoted.
 */
const SAFE_PATH = /^\/[A-Za-z0-9 /._+,:=@~-]*$/;
/** systemd.time(7) calendar events: "daily", "Mon..Fri 03:00", "*-*-* 04:30:00", "weekly", ... */
const CALENDAR = /^[A-Za-z0-9][A-Za-z0-9 :*,./~+-]{0,199}$/;
/** systemd.time(7) time span units. */
const TIME_UNITS = new Set(
  'usec us µs msec ms seconds second sec s minutes minute min m hours hour hr h days day d weeks week w months month M years year y'.split(
    ' ',
  ),
);

/** systemd.time(7) time spans: "1h", "30min", "1h 30min", "2h30min", "90" (seconds), "2.5h". */
export function isTimeSpan(value: string): boolean {
  if (value.length === 0 || value.length > 64) return false;
  const part = / *(\d+(?:\.\d+)?) *([a-zA-Zµ]*) */y;
  part.lastIndex = 0;
  while (part.lastIndex < value.length) {
    const m = part.exec(value);
    if (!m || (m[2] !== '' && !TIME_UNITS.has(m[2]!))) return false;
  }
  return true;
}

function checkPath(what: string, value: string): string {
  if (!isAbsolute(value)) throw new UsageError(`${what} must be an absolute path, got "${value}"`);
  if (!SAFE_PATH.test(value) || value.length > 1024)
    throw new UsageError(
      `${what} "${printable(value)}" contains characters a systemd unit cannot carry safely; ` +
        'use letters, digits, spaces and / . _ + , : = @ ~ -',
    );
  return value;
}

function printable(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

/** One ExecStart argument, quoted the way systemd.syntax(7) reads it when it contains spaces. */
export function systemdQuote(arg: string): string {
  // Only SAFE_PATH-checked values and fixed words reach here: no quote, backslash, % or $ to escape.
  if (!/^[A-Za-z0-9 /._+,:=@~-]+$/.test(arg)) throw new Error(`unsafe unit argument "${printable(arg)}"`);
  return arg.includes(' ') ? `"${arg}"` : arg;
}

export interface TimerUnits {
  readonly service: string;
  readonly timer: string;
  readonly execStart: readonly string[];
}

export interface TimerSettings {
  readonly nodePath: string;
  readonly phoenixPath: string;
  readonly configDir: string;
  readonly stateDir: string;
  readonly driver?: string;
  readonly labDir?: string;
  readonly onCalendar: string;
  readonly randomizedDelay: string;
  readonly metricsFile?: string;
}

/** Checks every value that goes into the units; a bad one is a usage error naming it. */
export function timerSettings(o: InstallTimerOptions, phoenixScript: string | undefined): TimerSettings {
  const onCalendar = o.onCalendar ?? 'daily';
  if (!CALENDAR.test(onCalendar))
    throw new UsageError(
      `--on-calendar "${printable(onCalendar)}" is not a calendar expression this command accepts (e.g. daily, "Mon..Fri 03:00", "*-*-* 04:30:00")`,
    );
  const randomizedDelay = o.randomizedDelay ?? '1h';
  if (!isTimeSpan(randomizedDelay))
    throw new UsageError(
      `--randomized-delay "${printable(randomizedDelay)}" is not a time span (e.g. 1h, 30min, "1h 30min", 0)`,
    );
  if (!phoenixScript) throw new UsageError('cannot tell where the running phoenix program is');
  const phoenixPath = checkPath('the phoenix program path', realpathSync(phoenixScript));
  const nodePath = checkPath('the node program path', process.execPath);
  const metricsFile =
    o.metricsFile === false ? undefined : checkPath('--metrics-file', o.metricsFile ?? DEFAULT_METRICS_FILE);
  return {
    nodePath,
    phoenixPath,
    configDir: checkPath('--config-dir', resolve(o.configDir)),
    stateDir: checkPath('--state-dir', resolve(resolveStateDir(o.stateDir))),
    ...(o.driver ? { driver: o.driver } : {}),
    // The lab directory defaults to one relative to the working directory, which is / under systemd: pass
    // the one in use now, unless the driver is one that has no use for it.
    ...(o.labDir && (o.labDirGiven || (o.driver !== 'memory' && o.driver !== 'proxmox'))
      ? { labDir: checkPath('--lab-dir', resolve(o.labDir)) }
      : {}),
    onCalendar,
    randomizedDelay,
    ...(metricsFile ? { metricsFile } : {}),
  };
}

/** The two unit files. Pure. */
export function renderTimerUnits(t: TimerSettings): TimerUnits {
  if (t.driver !== undefined && !/^(lab|proxmox|memory)$/.test(t.driver))
    throw new UsageError(`unknown driver "${printable(t.driver)}"`);
  const execStart = [
    t.nodePath,
    t.phoenixPath,
    '--config-dir',
    t.configDir,
    '--state-dir',
    t.stateDir,
    ...(t.labDir ? ['--lab-dir', t.labDir] : []),
    ...(t.driver ? ['--driver', t.driver] : []),
    'certs',
    'renew',
    ...(t.metricsFile ? ['--metrics-file', t.metricsFile] : []),
  ];
  const header = '# Written by `phoenix certs install-timer`; run it again to change this file.\n';
  const service =
    header +
    '[Unit]\n' +
    'Description=Phoenix: renew due certificates, install them, reload their services and verify they are served\n' +
    'Wants=network-online.target\n' +
    'After=network-online.target\n' +
    '\n' +
    '[Service]\n' +
    'Type=oneshot\n' +
    `ExecStart=${execStart.map(systemdQuote).join(' ')}\n`;
  const timer =
    header +
    '[Unit]\n' +
    `Description=Phoenix: run ${SERVICE_NAME} on a schedule\n` +
    '\n' +
    '[Timer]\n' +
    `OnCalendar=${t.onCalendar}\n` +
    `RandomizedDelaySec=${t.randomizedDelay}\n` +
    'Persistent=true\n' +
    `Unit=${SERVICE_NAME}\n` +
    '\n' +
    '[Install]\n' +
    'WantedBy=timers.target\n';
  return { service, timer, execStart };
}

/**
 * `phoenix certs install-timer`: writes the systemd service and timer that run `phoenix certs renew`
 * with this configuration. Never runs systemctl: it prints the command to run next.
 */
export async function certsInstallTimerCommand(o: InstallTimerOptions): Promise<number> {
  const settings = timerSettings(o, process.argv[1]);
  const unitDir = checkPath('--unit-dir', o.unitDir ?? DEFAULT_UNIT_DIR);
  if (!o.dryRun && !(existsSync(unitDir) && statSync(unitDir).isDirectory()))
    throw new UsageError(`--unit-dir ${unitDir} is not a directory`);
  const units = renderTimerUnits(settings);
  const files: Array<[string, string]> = [
    [join(unitDir, SERVICE_NAME), units.service],
    [join(unitDir, TIMER_NAME), units.timer],
  ];
  const out: string[] = [];
  if (o.dryRun) out.push('Dry run: nothing was written.');
  for (const [path, content] of files) {
    const same = existsSync(path) && readFileSync(path, 'utf8') === content;
    if (!o.dryRun && !same) {
      try {
        writeFileAtomically(path, content, 0o644);
      } catch (e) {
        process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
        process.stderr.write(
          `phoenix certs install-timer: cannot write ${path}: ${e instanceof Error ? e.message : String(e)}\n`,
        );
        return EXIT.failed;
      }
    }
    const verb = o.dryRun ? 'Would write' : same ? 'Unchanged' : 'Wrote';
    out.push(
      `${verb} ${path} (mode 0644):`,
      ...content
        .trimEnd()
        .split('\n')
        .map((l) => `    ${l}`),
      '',
    );
  }
  if (settings.metricsFile && !existsSync(dirname(settings.metricsFile)))
    out.push(
      `Note: ${dirname(settings.metricsFile)} does not exist yet; each renewal fails to write its metrics ` +
        "until it does (node_exporter's textfile directory), or install again with --no-metrics-file.",
      '',
    );
  out.push(
    `Next, to load and start the timer:`,
    `    systemctl daemon-reload && systemctl enable --now ${TIMER_NAME}`,
    `Then \`systemctl list-timers ${TIMER_NAME}\` shows when it runs next; \`journalctl -u ${SERVICE_NAME}\` what it did.`,
  );
  process.stdout.write(out.join('\n') + '\n');
  return EXIT.ok;
}
