import { basename } from 'node:path';
import type { LabHypervisor, LabCommandHandler } from './hypervisor.js';
import type { ExecResult } from '../hypervisor/types.js';
import type { GuestRef } from '../../model/inventory.js';
import { dnsmasqRunning, startDnsmasq, stopDnsmasq } from '../../lab/services/dnsmasq.js';
import type { DnsSpec } from '../../lab/services/dnsmasq.js';
import { nginxUnit } from '../../lab/services/nginx.js';
import { runningStepCa } from '../../lab/services/step-ca.js';
import { traefikUnit } from '../../lab/services/traefik.js';
import { updateLabState, readLabState } from '../../lab/state.js';

/**
 * The lab's service manager and host commands, consulted before anything runs in a sandbox:
 *   systemctl … nginx        (any guest)   REAL: nginx in the sandbox (start / reload / restart)
 *   systemctl … dnsmasq      (host)        REAL: the lab's dnsmasq, restarted by pid
 *   systemctl is-active step-ca            REAL: the step-ca service of the sandbox
 *   systemctl … traefik      (any guest)   STAND-IN: the lab's Traefik stand-in in the sandbox (traefik.ts)
 *   systemctl … <other unit>               EMULATED: success, recorded in lab.json (docker…)
 *   update-ca-certificates                 EMULATED: recorded (a guest's /usr is the host's, read-only)
 * Everything else in a guest runs for real in its sandbox; on the host nothing else exists.
 */

export interface LabCommandsOptions {
  readonly labDir: string;
  readonly hypervisor: () => LabHypervisor;
  /** The host DNS; undefined when the inventory has no host address. */
  readonly dns?: DnsSpec;
}

const ok = (stdout = ''): ExecResult => ({ exitCode: 0, stdout, stderr: '' });
const inactive = (): ExecResult => ({ exitCode: 3, stdout: 'inactive\n', stderr: '' });

export function labCommandHandler(opts: LabCommandsOptions): LabCommandHandler {
  return async (target, argv) => {
    const cmd = basename(argv[0] ?? '');
    if (cmd === 'systemctl') {
      const words = argv.slice(1).filter((a) => !a.startsWith('-'));
      const verb = words[0] ?? '';
      const unit = (words[1] ?? '').replace(/\.service$/, '');
      if (!unit) return ok();
      if (target !== 'host' && unit === 'nginx') {
        return nginxUnit(await opts.hypervisor().sandbox(target), verb);
      }
      if (target === 'host' && unit === 'dnsmasq' && opts.dns) return dnsmasqUnit(opts, verb);
      if (target !== 'host' && unit === 'traefik') {
        const hv = opts.hypervisor();
        return traefikUnit(await hv.sandbox(target), await hv.address(target), verb);
      }
      if (target !== 'host' && unit === 'step-ca' && verb === 'is-active') {
        return (await runningStepCa(await opts.hypervisor().sandbox(target))) ? ok('active\n') : inactive();
      }
      return emulatedUnit(opts.labDir, target, unit, verb);
    }
    if (cmd === 'update-ca-certificates') {
      await updateLabState(opts.labDir, (s) => ({
        ...s,
        trust: { ...s.trust, [String(target)]: new Date().toISOString() },
      }));
      return ok('Updating certificates in /etc/ssl/certs... (emulated by the Phoenix lab)\ndone.\n');
    }
    return undefined;
  };
}

async function dnsmasqUnit(opts: LabCommandsOptions, verb: string): Promise<ExecResult> {
  const dns = opts.dns!;
  if (verb === 'is-active') return (await dnsmasqRunning(opts.labDir)) ? ok('active\n') : inactive();
  if (verb === 'stop') {
    await stopDnsmasq(opts.labDir);
    return ok();
  }
  if (verb === 'start' && (await dnsmasqRunning(opts.labDir)) !== undefined) return ok();
  // dnsmasq re-reads its configuration only on restart: reload is a restart here too.
  try {
    await stopDnsmasq(opts.labDir);
    await startDnsmasq(opts.labDir, dns);
    return ok();
  } catch (e) {
    return {
      exitCode: 1,
      stdout: '',
      stderr: `Job for dnsmasq.service failed.\n${(e as Error).message}\n`,
    };
  }
}

async function emulatedUnit(
  labDir: string,
  target: GuestRef,
  unit: string,
  verb: string,
): Promise<ExecResult> {
  const key = `${target}/${unit}`;
  if (verb === 'is-active') {
    return (await readLabState(labDir)).units[key]?.active ? ok('active\n') : inactive();
  }
  const active = !['stop', 'disable', 'mask'].includes(verb);
  await updateLabState(labDir, (s) => ({
    ...s,
    units: { ...s.units, [key]: { active, at: new Date().toISOString(), last: verb } },
  }));
  return ok();
}
