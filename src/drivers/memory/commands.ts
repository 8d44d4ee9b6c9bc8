import { posix } from 'node:path';
import type { ExecResult } from '../hypervisor/types.js';
import type { GuestRef } from '../../model/inventory.js';
import { loadNginx, NGINX_CONF } from './nginx-model.js';
import type { MemoryWorld, WorldService, WorldSpace } from './world.js';

/**
 * The few commands the emulated host and guests understand, with the exit codes and messages of the real
 * tools. Anything else is "command not found" (127), as a shell would say: the emulator never pretends to
 * have run a command it does not model.
 *
 *   systemctl reload|restart|start|stop|is-active UNIT...  (a reload/restart/start "installs" a missing unit)
 *   docker restart CONTAINER...                             (guests only)
 *   test -r|-e|-f PATH, cat PATH..., true, false
 *   nginx -t        (loads every ssl_certificate(_key) pair in /etc/nginx/conf.d/*.conf: nginx-model.ts)
 *                   systemctl start|restart|reload nginx load it too: a failed load fails the command and a
 *                   running nginx keeps serving what it served (WorldService.served)
 *   update-ca-certificates
 */

const ok = (stdout = ''): ExecResult => ({ exitCode: 0, stdout, stderr: '' });
const fail = (exitCode: number, stderr: string, stdout = ''): ExecResult => ({ exitCode, stdout, stderr });

export function runCommand(world: MemoryWorld, ref: GuestRef, argv: readonly string[]): ExecResult {
  const [program = '', ...args] = argv;
  const space = world.space(ref);
  if (!space) throw new Error(`runCommand: no space for ${String(ref)}`);
  switch (posix.basename(program)) {
    case 'systemctl':
      return systemctl(world, space, args);
    case 'docker':
      if (ref !== 'host') return docker(world, ref, args);
      break;
    case 'test':
      return testFile(space, args);
    case 'cat':
      return cat(space, args);
    case 'nginx':
      return nginx(space, args);
    case 'update-ca-certificates':
      return ok('Updating certificates in /etc/ssl/certs...\n0 added, 0 removed; done.\n');
    case 'true':
      return ok();
    case 'false':
      return fail(1, '');
  }
  return fail(127, `${program}: command not found\n`);
}

function unitName(unit: string): string {
  return unit.endsWith('.service') ? unit.slice(0, -'.service'.length) : unit;
}

function systemctl(world: MemoryWorld, space: WorldSpace, args: string[]): ExecResult {
  const [verb, ...units] = args;
  if (verb === undefined || units.length === 0) return fail(1, 'Too few arguments.\n');
  const names = units.map(unitName);
  const existing = (name: string): WorldService | undefined => space.services[name];
  switch (verb) {
    case 'is-active': {
      const states = names.map((n) => (existing(n)?.active ? 'active' : 'inactive'));
      return {
        exitCode: states.every((s) => s === 'active') ? 0 : 3,
        stdout: states.join('\n') + '\n',
        stderr: '',
      };
    }
    case 'reload': {
      const inactive = names.find((n) => existing(n) !== undefined && !existing(n)!.active);
      if (inactive !== undefined) return fail(1, `${inactive}.service is not active, cannot reload.\n`);
      const nginxLoad = names.includes('nginx') ? loadNginx(space) : undefined;
      if (nginxLoad && !nginxLoad.ok) return fail(1, `Job for nginx.service failed.\n${nginxLoad.error}`);
      world.mutate(() => {
        for (const n of names) (space.services[n] ??= newService()).reloads += 1;
        if (nginxLoad?.ok) space.services.nginx!.served = nginxLoad.served;
      });
      return ok();
    }
    case 'restart':
    case 'start': {
      const changes = verb === 'restart' || names.some((n) => !existing(n)?.active);
      const nginxLoad = changes && names.includes('nginx') ? loadNginx(space) : undefined;
      if (nginxLoad && !nginxLoad.ok) return fail(1, `Job for nginx.service failed.\n${nginxLoad.error}`);
      if (changes) {
        world.mutate(() => {
          for (const n of names) {
            const service = (space.services[n] ??= newService());
            service.active = true;
            if (verb === 'restart') service.restarts += 1;
          }
          if (nginxLoad?.ok) space.services.nginx!.served = nginxLoad.served;
        });
      }
      return ok();
    }
    case 'stop': {
      const missing = names.find((n) => existing(n) === undefined);
      if (missing !== undefined) {
        return fail(5, `Failed to stop ${missing}.service: Unit ${missing}.service not loaded.\n`);
      }
      if (names.some((n) => existing(n)!.active)) {
        world.mutate(() => {
          for (const n of names) {
            space.services[n]!.active = false;
            delete space.services[n]!.served;
          }
        });
      }
      return ok();
    }
    default:
      return fail(1, `Unknown command verb ${verb}.\n`);
  }
}

function newService(): WorldService {
  return { active: true, reloads: 0, restarts: 0 };
}

function docker(world: MemoryWorld, id: number, args: string[]): ExecResult {
  const [sub, ...names] = args;
  if (sub !== 'restart') return fail(1, `docker: '${sub ?? ''}' is not a docker command.\n`);
  if (names.length === 0) return fail(1, '"docker restart" requires at least 1 argument.\n');
  const containers = world.guest(id)!.docker.containers;
  const found = names.filter((n) => containers[n] !== undefined);
  const missing = names.filter((n) => containers[n] === undefined);
  if (found.length > 0) {
    world.mutate(() => {
      const startedAt = world.now().toISOString();
      for (const n of found) Object.assign(containers[n]!, { running: true, startedAt });
    });
  }
  const stdout = found.map((n) => `${n}\n`).join('');
  if (missing.length === 0) return ok(stdout);
  return fail(
    1,
    missing.map((n) => `Error response from daemon: No such container: ${n}\n`).join(''),
    stdout,
  );
}

function testFile(space: WorldSpace, args: string[]): ExecResult {
  const [flag, path] = args;
  if (args.length !== 2 || !['-r', '-e', '-f'].includes(flag!)) {
    return fail(2, 'test: unsupported expression\n');
  }
  // Everything the emulator runs is root, which can read every file.
  return space.files[posix.resolve('/', path!)] ? ok() : fail(1, '');
}

function nginx(space: WorldSpace, args: string[]): ExecResult {
  if (args[0] !== '-t') return fail(1, `nginx: invalid option: "${args.join(' ')}"\n`);
  const load = loadNginx(space);
  if (!load.ok) return fail(1, load.error);
  return fail(
    0,
    `nginx: the configuration file ${NGINX_CONF} syntax is ok\nnginx: configuration file ${NGINX_CONF} test is successful\n`,
  );
}

function cat(space: WorldSpace, paths: string[]): ExecResult {
  let stdout = '';
  let stderr = '';
  for (const path of paths) {
    const file = space.files[posix.resolve('/', path)];
    if (file) stdout += Buffer.from(file.content, 'base64').toString('utf8');
    else stderr += `cat: ${path}: No such file or directory\n`;
  }
  return { exitCode: stderr === '' ? 0 : 1, stdout, stderr };
}
