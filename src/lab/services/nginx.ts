import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecResult } from '../../drivers/hypervisor/types.js';
import { labAddress } from '../address.js';
import type { Listen } from '../sandbox.js';
import type { Sandbox } from '../sandbox.js';
import { serialised } from '../sandbox-store.js';

/**
 * The real nginx of the lab's gateway guest: root master and www-data workers inside the sandbox, with the
 * lab's own /etc/nginx/nginx.conf (never Debian's default site, which listens on 0.0.0.0). Listen sockets
 * for every `listen ADDR:PORT` of /etc/nginx/conf.d/*.conf are bound by host root and inherited.
 */

export const NGINX_CONF = '/etc/nginx/nginx.conf';
const NGINX = '/usr/sbin/nginx';

export const LAB_NGINX_CONF = `# Written by the Phoenix lab: the gateway guest's nginx, run in the foreground by the lab's service manager.
user www-data;
worker_processes 1;
daemon off;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log info;
events { worker_connections 256; }
http {
  access_log /var/log/nginx/access.log;
  default_type application/octet-stream;
  client_body_temp_path /var/lib/nginx/body;
  proxy_temp_path /var/lib/nginx/proxy;
  fastcgi_temp_path /var/lib/nginx/fastcgi;
  uwsgi_temp_path /var/lib/nginx/uwsgi;
  scgi_temp_path /var/lib/nginx/scgi;
  include /etc/nginx/conf.d/*.conf;
}
`;

/** Writes the lab's nginx.conf into the guest when it differs. */
export async function ensureNginxConf(sandbox: Sandbox): Promise<void> {
  const current = await sandbox.readFile(NGINX_CONF);
  if (current && Buffer.from(current.content).toString('utf8') === LAB_NGINX_CONF) return;
  await sandbox.writeFile(NGINX_CONF, Buffer.from(LAB_NGINX_CONF), {
    owner: 'root',
    group: 'root',
    mode: 0o644,
  });
}

/** Every `listen ADDR:PORT` of conf.d/*.conf (lab addresses only: anything else is refused by the sandbox). */
export async function nginxListens(sandbox: Sandbox): Promise<Listen[]> {
  const dir = join(sandbox.rootfs, 'etc/nginx/conf.d');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.conf')).sort();
  const found = new Map<string, Listen>();
  for (const name of names) {
    const text = await readFile(join(dir, name), 'utf8');
    for (const m of text.matchAll(/^\s*listen\s+(\d{1,3}(?:\.\d{1,3}){3}):(\d+)\b/gm)) {
      const address = labAddress(m[1]!);
      if (address !== m[1]) continue; // not a lab address: the sandbox would refuse it, and so does the lab
      found.set(`${address}:${m[2]}`, { address, port: Number(m[2]) });
    }
  }
  return [...found.values()];
}

export async function runningNginx(sandbox: Sandbox) {
  return (await sandbox.services()).find((s) => s.name === 'nginx' && s.running);
}

const ok = (stdout = ''): ExecResult => ({ exitCode: 0, stdout, stderr: '' });
const fail = (stderr: string): ExecResult => ({ exitCode: 1, stdout: '', stderr });

const sameListen = (a: readonly Listen[], b: readonly Listen[]) =>
  JSON.stringify([...a].map((l) => `${l.address}:${l.port}`).sort()) ===
  JSON.stringify([...b].map((l) => `${l.address}:${l.port}`).sort());

async function start(sandbox: Sandbox): Promise<ExecResult> {
  await ensureNginxConf(sandbox);
  // A site file being written right now (temp name, then rename) can be missed by one reading of conf.d:
  // when a start fails, read the listen set again and retry while it changes.
  let listen = await nginxListens(sandbox);
  for (let attempt = 1; ; attempt++) {
    try {
      await sandbox.spawnService([NGINX, '-c', NGINX_CONF], {
        name: 'nginx',
        listen,
        logFile: '/var/log/nginx/service.log',
        settleMs: 300,
      });
      return ok();
    } catch (e) {
      const again = await nginxListens(sandbox);
      if (attempt >= 3 || sameListen(again, listen)) {
        return fail(`Job for nginx.service failed.\n${(e as Error).message}`);
      }
      listen = again;
    }
  }
}

/** `systemctl <verb> nginx` in a guest, for real; one at a time per guest, as systemd queues jobs. */
export function nginxUnit(sandbox: Sandbox, verb: string): Promise<ExecResult> {
  return serialised(`${sandbox.dir}#nginx`, () => nginxJob(sandbox, verb));
}

async function nginxJob(sandbox: Sandbox, verb: string): Promise<ExecResult> {
  const running = await runningNginx(sandbox);
  switch (verb) {
    case 'is-active':
      return running ? ok('active\n') : { exitCode: 3, stdout: 'inactive\n', stderr: '' };
    case 'stop':
      if (running) await sandbox.stopService(running.pid);
      return ok();
    case 'start':
      return running ? ok() : start(sandbox);
    case 'restart':
      if (running) await sandbox.stopService(running.pid);
      return start(sandbox);
    case 'reload':
    case 'reload-or-restart':
    case 'try-reload-or-restart': {
      if (!running) return start(sandbox);
      await ensureNginxConf(sandbox);
      if (!sameListen(running.listen, await nginxListens(sandbox))) {
        await sandbox.stopService(running.pid);
        return start(sandbox);
      }
      const r = await sandbox.exec([NGINX, '-c', NGINX_CONF, '-s', 'reload']);
      return r.exitCode === 0 ? r : { ...r, stderr: `Job for nginx.service failed (reload).\n${r.stderr}` };
    }
    default:
      return ok();
  }
}
