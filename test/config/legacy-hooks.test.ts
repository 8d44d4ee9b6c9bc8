import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { analyseHook, pathMatches, type GuestRef, type HookWrite } from '../../src/config/legacy/hooks.js';

const write = (guest: GuestRef, what: HookWrite['what'], path: string, command: string): HookWrite => ({
  guest,
  path,
  what,
  command,
});
const mode = (guest: GuestRef, path: string, value: string) =>
  write(guest, 'mode', path, `chmod ${value} ${path}`);
const owner = (guest: GuestRef, spec: string, paths: string) =>
  paths.split(' ').map((path) => write(guest, 'owner', path, `chown ${spec} ${paths}`));
const moved = (guest: GuestRef, from: string, to: string) => write(guest, 'content', to, `mv ${from} ${to}`);
const argvsIn = (hook: string, guest: GuestRef) =>
  analyseHook(hook)
    .commands.filter((c) => c.guest === guest)
    .map((c) => c.argv.join(' '));

// Verbatim `post_renewal_command` strings from ../shared/reference/original-config/etc/ and the RCA.
const V1 = {
  nginx: 'pct exec 101 -- systemctl reload nginx',
  portainer: 'qm guest exec 1001 -- docker restart portainer_server',
  traefik: `pct exec 102 -- /bin/bash -c 'while [ ! -f /etc/traefik/certs/traefik.internal.thinkheads.ai.crt ]; do sleep 1; done; systemctl reload traefik'`,
};
const LATER = {
  nginx: `pct exec 101 -- /bin/bash -c 'mkdir -p /etc/nginx/ssl && mv /tmp/cert.pem /etc/nginx/ssl/nginx.internal.thinkheads.ai.crt && mv /tmp/key.pem /etc/nginx/ssl/nginx.internal.thinkheads.ai.key && chown root:www-data /etc/nginx/ssl/* && chmod 644 /etc/nginx/ssl/*.crt && chmod 640 /etc/nginx/ssl/*.key && systemctl reload nginx'`,
  portainer: `qm guest exec 1001 -- /bin/bash -c 'SECRET_CERT="portainer_tls_cert.pem"; SECRET_KEY="portainer_tls_key.pem"; SECRET_CA="portainer_tls_ca.pem"; SERVICE_NAME="production_portainer_service_portainer"; if docker secret inspect $SECRET_CERT >/dev/null 2>&1; then docker secret rm $SECRET_CERT; fi; docker secret create $SECRET_CERT /tmp/cert.pem; if docker secret inspect $SECRET_KEY >/dev/null 2>&1; then docker secret rm $SECRET_KEY; fi; docker secret create $SECRET_KEY /tmp/key.pem; if docker secret inspect $SECRET_CA >/dev/null 2>&1; then docker secret rm $SECRET_CA; fi; docker secret create $SECRET_CA /tmp/ca.pem; if docker service inspect $SERVICE_NAME >/dev/null 2>&1; then docker service update --force $SERVICE_NAME; fi'`,
  traefik: `pct exec 102 -- /bin/bash -c 'mkdir -p /etc/traefik/certs && mv /tmp/cert.pem /etc/traefik/certs/traefik.internal.thinkheads.ai.crt && mv /tmp/key.pem /etc/traefik/certs/traefik.internal.thinkheads.ai.key && chown root:root /etc/traefik/certs/traefik.internal.thinkheads.ai.crt /etc/traefik/certs/traefik.internal.thinkheads.ai.key && chmod 644 /etc/traefik/certs/traefik.internal.thinkheads.ai.crt && chmod 600 /etc/traefik/certs/traefik.internal.thinkheads.ai.key && systemctl restart traefik'`,
  drphoenixAgent: `qm guest exec 1002 -- /bin/bash -c 'mkdir -p /etc/docker/tls && mv /tmp/cert.pem /etc/docker/tls/cert.pem && mv /tmp/key.pem /etc/docker/tls/key.pem && chown root:root /etc/docker/tls/* && chmod 644 /etc/docker/tls/cert.pem && chmod 600 /etc/docker/tls/key.pem && (systemctl is-active --quiet docker && systemctl reload docker || systemctl start docker)'`,
  dockerDaemon: `qm guest exec 1001 -- /bin/bash -c 'mkdir -p /etc/docker/tls && mv /tmp/cert.pem /etc/docker/tls/cert.pem && mv /tmp/key.pem /etc/docker/tls/key.pem && mv /tmp/ca.pem /etc/docker/tls/ca.pem && chown root:root /etc/docker/tls/* && chmod 644 /etc/docker/tls/cert.pem /etc/docker/tls/ca.pem && chmod 600 /etc/docker/tls/key.pem && (systemctl is-active --quiet docker && systemctl reload docker || systemctl start docker)'`,
  traefikClient: `pct exec 102 -- /bin/bash -c 'mkdir -p /etc/traefik/certs && mv /tmp/cert.pem /etc/traefik/certs/client-cert.pem && mv /tmp/key.pem /etc/traefik/certs/client-key.pem && chown root:root /etc/traefik/certs/client-cert.pem /etc/traefik/certs/client-key.pem && chmod 644 /etc/traefik/certs/client-cert.pem && chmod 600 /etc/traefik/certs/client-key.pem && systemctl restart traefik'`,
  nginxGatewayClient: `pct exec 101 -- /bin/bash -c 'mkdir -p /etc/nginx/ssl && mv /tmp/cert.pem /etc/nginx/ssl/nginx-client.crt && mv /tmp/key.pem /etc/nginx/ssl/nginx-client.key && chown root:www-data /etc/nginx/ssl/nginx-client.* && chmod 644 /etc/nginx/ssl/nginx-client.crt && chmod 640 /etc/nginx/ssl/nginx-client.key'`,
  portainerClient: `qm guest exec 1001 -- /bin/bash -c 'SECRET_CERT="portainer_client_cert"; SECRET_KEY="portainer_client_key"; if docker secret inspect $SECRET_CERT >/dev/null 2>&1; then docker secret rm $SECRET_CERT; fi; docker secret create $SECRET_CERT /tmp/cert.pem; if docker secret inspect $SECRET_KEY >/dev/null 2>&1; then docker secret rm $SECRET_KEY; fi; docker secret create $SECRET_KEY /tmp/key.pem;'`,
};
const RCA_NGINX_FIX = `pct exec 101 -- /bin/bash -c 'while [ ! -f /etc/nginx/ssl/nginx.internal.thinkheads.ai.key ]; do sleep 1; done; chown root:www-data /etc/nginx/ssl/nginx.internal.thinkheads.ai.key; chmod 640 /etc/nginx/ssl/nginx.internal.thinkheads.ai.key; systemctl reload nginx'`;

const reference = new URL('../../../../shared/reference/original-config/etc/', import.meta.url);
test(
  'the table above holds every hook of both reference manifests verbatim',
  {
    skip: !existsSync(reference) && 'reference config not checked out next to this repository',
  },
  () => {
    const hooksIn = (file: string) =>
      (JSON.parse(readFileSync(new URL(file, reference), 'utf8')) as Array<{ post_renewal_command?: string }>)
        .map((entry) => entry.post_renewal_command)
        .filter((hook) => hook !== undefined)
        .sort();
    assert.deepEqual(hooksIn('certificate-manifest.json'), Object.values(V1).sort());
    assert.deepEqual(hooksIn('certificate-manifest.later-revision.json'), Object.values(LATER).sort());
  },
);

test('v1 nginx: a reload inside the container is a follow-up and nothing else', () => {
  assert.deepEqual(analyseHook(V1.nginx), {
    followUp: { type: 'reload-service', guest: 101, service: 'nginx' },
    writes: [],
    deploys: [],
    commands: [
      { guest: 'host', argv: ['pct', 'exec', '101', '--', 'systemctl', 'reload', 'nginx'] },
      { guest: 101, argv: ['systemctl', 'reload', 'nginx'] },
    ],
    problems: [],
  });
});

test('v1 portainer and the RCA fix: docker restart in a VM is a restart-container follow-up', () => {
  const analysis = analyseHook(V1.portainer);
  assert.deepEqual(analysis.followUp, {
    type: 'restart-container',
    guest: 1001,
    container: 'portainer_server',
  });
  assert.deepEqual([analysis.writes, analysis.deploys, analysis.problems], [[], [], []]);
});

test('v1 traefik: a wait loop before the reload is not a plain follow-up, but its commands are found', () => {
  const analysis = analyseHook(V1.traefik);
  assert.equal(analysis.followUp, undefined);
  assert.deepEqual([analysis.writes, analysis.deploys, analysis.problems], [[], [], []]);
  assert.deepEqual(argvsIn(V1.traefik, 102).slice(1), [
    '[ ! -f /etc/traefik/certs/traefik.internal.thinkheads.ai.crt ]',
    'sleep 1',
    'systemctl reload traefik',
  ]);
});

test('later nginx: moves, a glob chown and glob chmods inside container 101', () => {
  const analysis = analyseHook(LATER.nginx);
  const ssl = '/etc/nginx/ssl';
  assert.deepEqual(analysis.writes, [
    moved(101, '/tmp/cert.pem', `${ssl}/nginx.internal.thinkheads.ai.crt`),
    moved(101, '/tmp/key.pem', `${ssl}/nginx.internal.thinkheads.ai.key`),
    ...owner(101, 'root:www-data', `${ssl}/*`),
    mode(101, `${ssl}/*.crt`, '644'),
    mode(101, `${ssl}/*.key`, '640'),
  ]);
  assert.deepEqual([analysis.followUp, analysis.deploys, analysis.problems], [undefined, [], []]);
  const keyModes = analysis.writes.filter(
    (w) => w.what === 'mode' && pathMatches(w.path, `${ssl}/nginx.internal.thinkheads.ai.key`),
  );
  assert.deepEqual(keyModes, [mode(101, `${ssl}/*.key`, '640')]);
});

test('later portainer and portainer-client: docker secrets write no files and deploy nothing', () => {
  for (const hook of [LATER.portainer, LATER.portainerClient]) {
    const analysis = analyseHook(hook);
    assert.deepEqual(
      [analysis.followUp, analysis.writes, analysis.deploys, analysis.problems],
      [undefined, [], [], []],
    );
    assert.ok(argvsIn(hook, 1001).includes('docker secret create $SECRET_CERT /tmp/cert.pem'));
    assert.ok(
      argvsIn(hook, 1001).every((argv) => !argv.startsWith('SECRET_')),
      'assignments are not commands',
    );
  }
  assert.ok(argvsIn(LATER.portainer, 1001).includes('docker service update --force $SERVICE_NAME'));
});

test('later traefik and traefik-client: attribute writes on named files in container 102', () => {
  const certs = '/etc/traefik/certs';
  const [crt, key] = [
    `${certs}/traefik.internal.thinkheads.ai.crt`,
    `${certs}/traefik.internal.thinkheads.ai.key`,
  ];
  assert.deepEqual(analyseHook(LATER.traefik).writes, [
    moved(102, '/tmp/cert.pem', crt),
    moved(102, '/tmp/key.pem', key),
    ...owner(102, 'root:root', `${crt} ${key}`),
    mode(102, crt, '644'),
    mode(102, key, '600'),
  ]);
  const [clientCrt, clientKey] = [`${certs}/client-cert.pem`, `${certs}/client-key.pem`];
  assert.deepEqual(analyseHook(LATER.traefikClient).writes, [
    moved(102, '/tmp/cert.pem', clientCrt),
    moved(102, '/tmp/key.pem', clientKey),
    ...owner(102, 'root:root', `${clientCrt} ${clientKey}`),
    mode(102, clientCrt, '644'),
    mode(102, clientKey, '600'),
  ]);
});

test('later docker TLS hooks: writes in the VM, and the subshell commands are still found', () => {
  const tls = '/etc/docker/tls';
  assert.deepEqual(analyseHook(LATER.drphoenixAgent).writes, [
    moved(1002, '/tmp/cert.pem', `${tls}/cert.pem`),
    moved(1002, '/tmp/key.pem', `${tls}/key.pem`),
    ...owner(1002, 'root:root', `${tls}/*`),
    mode(1002, `${tls}/cert.pem`, '644'),
    mode(1002, `${tls}/key.pem`, '600'),
  ]);
  assert.deepEqual(argvsIn(LATER.drphoenixAgent, 1002).slice(-3), [
    'systemctl is-active --quiet docker',
    'systemctl reload docker',
    'systemctl start docker',
  ]);
  const chmodBoth = `chmod 644 ${tls}/cert.pem ${tls}/ca.pem`;
  assert.deepEqual(analyseHook(LATER.dockerDaemon).writes, [
    moved(1001, '/tmp/cert.pem', `${tls}/cert.pem`),
    moved(1001, '/tmp/key.pem', `${tls}/key.pem`),
    moved(1001, '/tmp/ca.pem', `${tls}/ca.pem`),
    ...owner(1001, 'root:root', `${tls}/*`),
    write(1001, 'mode', `${tls}/cert.pem`, chmodBoth),
    write(1001, 'mode', `${tls}/ca.pem`, chmodBoth),
    mode(1001, `${tls}/key.pem`, '600'),
  ]);
});

test('later nginx-gateway-client: a chown glob and no follow-up', () => {
  const ssl = '/etc/nginx/ssl';
  const analysis = analyseHook(LATER.nginxGatewayClient);
  assert.deepEqual(analysis.writes, [
    moved(101, '/tmp/cert.pem', `${ssl}/nginx-client.crt`),
    moved(101, '/tmp/key.pem', `${ssl}/nginx-client.key`),
    ...owner(101, 'root:www-data', `${ssl}/nginx-client.*`),
    mode(101, `${ssl}/nginx-client.crt`, '644'),
    mode(101, `${ssl}/nginx-client.key`, '640'),
  ]);
  assert.equal(analysis.followUp, undefined);
});

test('RCA nginx fix: the wait loop does not hide the chown and chmod of the key', () => {
  const key = '/etc/nginx/ssl/nginx.internal.thinkheads.ai.key';
  const analysis = analyseHook(RCA_NGINX_FIX);
  assert.deepEqual(analysis.writes, [...owner(101, 'root:www-data', key), mode(101, key, '640')]);
  assert.deepEqual([analysis.followUp, analysis.problems], [undefined, []]);
});

test('RCA portainer race: docker compose up inside qm guest exec bash -c is a deploy in the VM', () => {
  const hook = `qm guest exec 1001 -- /bin/bash -c 'cd /opt/portainer && docker compose -f x.yml up -d'`;
  const analysis = analyseHook(hook);
  assert.deepEqual(analysis.deploys, [{ guest: 1001, command: 'docker compose -f x.yml up -d' }]);
  assert.deepEqual([analysis.followUp, analysis.writes], [undefined, []]);
});

test('deploys: compose v1 and v2, docker run, stack deploy; other docker verbs are not deploys', () => {
  const deployed = (hook: string) => analyseHook(hook).deploys.map((d) => d.command);
  assert.deepEqual(deployed('docker-compose -p up -f a.yml up -d'), ['docker-compose -p up -f a.yml up -d']);
  assert.deepEqual(deployed('docker --context vm run --rm alpine true'), [
    'docker --context vm run --rm alpine true',
  ]);
  assert.deepEqual(deployed('docker stack deploy -c s.yml portainer'), [
    'docker stack deploy -c s.yml portainer',
  ]);
  assert.deepEqual(
    deployed('docker compose -f up.yml ps; docker compose down; docker restart x; docker-compose pull'),
    [],
  );
});

test('follow-up only when the whole hook is one recognised command', () => {
  const followUp = (hook: string) => analyseHook(hook).followUp;
  assert.deepEqual(followUp('systemctl reload nginx'), {
    type: 'reload-service',
    guest: 'host',
    service: 'nginx',
  });
  assert.deepEqual(followUp('qm guest exec 1001 -- systemctl restart docker'), {
    type: 'reload-service',
    guest: 1001,
    service: 'docker',
  });
  assert.deepEqual(followUp('pct exec 105 -- docker restart web'), {
    type: 'restart-container',
    guest: 105,
    container: 'web',
  });
  for (const hook of [
    'pct exec 101 -- systemctl reload nginx && pct exec 101 -- systemctl reload nginx',
    'pct exec 101 -- systemctl reload nginx > /tmp/reload.log',
    'pct exec 101 -- systemctl reload nginx php-fpm',
    'pct exec 101 -- systemctl status nginx',
    'docker restart web',
    'pct exec $CT -- systemctl reload nginx',
  ]) {
    assert.equal(followUp(hook), undefined, hook);
  }
});

test('quotes: single, double with escapes, backslash; $VAR stays literal', () => {
  const hook = `chmod 640 '/etc/my dir/a key.pem' "/etc/x y/\\"$NAME\\".pem" /etc/a\\ b`;
  assert.deepEqual(
    analyseHook(hook).writes.map((w) => w.path),
    ['/etc/my dir/a key.pem', '/etc/x y/"$NAME".pem', '/etc/a b'],
  );
  assert.deepEqual(analyseHook(`echo "it's; chmod 600 /k"`).writes, [], 'operators inside quotes are text');
  assert.deepEqual(analyseHook(`'if' x`).commands, [{ guest: 'host', argv: ['if', 'x'] }], 'quoted keyword');
});

test('operators: && || | & ; ( ) all separate commands', () => {
  const analysis = analyseHook(
    'chmod 600 /a && chown b:c /d || tee /e | cat & (chgrp g /f); install -m 600 /s /t',
  );
  assert.deepEqual(
    analysis.writes.map((w) => `${w.what} ${w.path}`),
    ['mode /a', 'owner /d', 'content /e', 'owner /f', 'content /t', 'mode /t'],
  );
  assert.deepEqual(analysis.commands.at(-1), { guest: 'host', argv: ['install', '-m', '600', '/s', '/t'] });
});

test('redirections: > >> 2> &> write; /dev/null, 2>&1 and < do not', () => {
  const analysis = analyseHook(
    'echo a > /etc/a; echo b >>/etc/b; run 2> /var/err; run >/dev/null 2>&1; cat < /etc/in; run &> /tmp/both',
  );
  assert.deepEqual(
    analysis.writes.map((w) => w.command),
    ['echo a > /etc/a', 'echo b >> /etc/b', 'run 2> /var/err', 'run &> /tmp/both'],
  );
  assert.deepEqual(analyseHook('echo "2">/tmp/f').writes, [
    write('host', 'content', '/tmp/f', 'echo 2 > /tmp/f'),
  ]);
  assert.deepEqual(analyseHook('echo x >').problems, ['redirection ">" has no target']);
});

test('a redirection after pct exec is opened by the host shell; inside bash -c it is in the guest', () => {
  assert.deepEqual(analyseHook('pct exec 101 -- cat /etc/k > /root/k').writes, [
    write('host', 'content', '/root/k', 'pct exec 101 -- cat /etc/k > /root/k'),
  ]);
  assert.deepEqual(analyseHook(`pct exec 101 -- sh -c 'cat /etc/k > /root/k'`).writes, [
    write(101, 'content', '/root/k', 'cat /etc/k > /root/k'),
  ]);
  assert.deepEqual(analyseHook('cat k | pct exec 101 -- tee -a /etc/k >/dev/null').writes, [
    write(101, 'content', '/etc/k', 'tee -a /etc/k'),
  ]);
});

test('copy destinations: trailing slash, several sources, -t, install modes and owners', () => {
  const paths = (hook: string) => analyseHook(hook).writes.map((w) => `${w.what} ${w.path}`);
  assert.deepEqual(paths('mv /tmp/key.pem /etc/ssl/'), ['content /etc/ssl/key.pem']);
  assert.deepEqual(paths('cp -a /tmp/a.pem /tmp/b.pem /etc/ssl'), [
    'content /etc/ssl/a.pem',
    'content /etc/ssl/b.pem',
  ]);
  assert.deepEqual(paths('cp -t /etc/ssl x.pem'), ['content /etc/ssl/x.pem']);
  assert.deepEqual(paths('install -m 640 -o root -g www-data /tmp/k /etc/k'), [
    'content /etc/k',
    'mode /etc/k',
    'owner /etc/k',
  ]);
  assert.deepEqual(paths('chmod -R -w /etc/ssl; chown --reference=/etc/a /etc/b; chgrp -R www-data /srv'), [
    'mode /etc/ssl',
    'owner /etc/b',
    'owner /srv',
  ]);
});

test('wrappers: sudo, env, nohup, timeout, runuser, su -c and leading assignments are unwrapped', () => {
  const writes = (hook: string) => analyseHook(hook).writes.map((w) => `${w.guest} ${w.what} ${w.command}`);
  assert.deepEqual(writes('sudo -u root env FOO=1 nohup timeout -s KILL 30 chmod 600 /k'), [
    'host mode chmod 600 /k',
  ]);
  assert.deepEqual(writes('pct exec 101 -- runuser -u www-data -- tee /var/www/x'), [
    '101 content tee /var/www/x',
  ]);
  assert.deepEqual(writes(`su - postgres -c 'chmod 600 /var/lib/pg/key'`), [
    'host mode chmod 600 /var/lib/pg/key',
  ]);
  assert.deepEqual(analyseHook('A=1 B="two words" chmod 600 /k').commands, [
    { guest: 'host', argv: ['chmod', '600', '/k'] },
  ]);
});

test('keywords: commands inside loops, conditions, groups and case arms are found', () => {
  const paths = (hook: string) => analyseHook(hook).writes.map((w) => w.path);
  assert.deepEqual(paths('for f in /etc/ssl/*.key; do chmod 600 "$f"; done'), ['$f']);
  assert.deepEqual(paths('if [ -f /k ]; then chown root /k; else ! chgrp g /j; fi'), ['/k', '/j']);
  assert.deepEqual(paths('{ chmod 600 /k; }; until true; do tee /u; done'), ['/k', '/u']);
  assert.deepEqual(paths('case $x in a) chmod 600 /k;; esac'), ['/k']);
  assert.deepEqual(argvsIn('for f in a b; do sleep 1; done', 'host'), ['sleep 1']);
});

test('command substitutions are analysed in the shell that expands them', () => {
  const analysis = analyseHook('pct exec 101 -- chown $(stat -c %U /etc/a) "/etc/$(chmod 600 /k)b"');
  assert.deepEqual(
    analysis.writes.map((w) => `${w.guest} ${w.what} ${w.path}`),
    ['101 owner /etc/$(chmod 600 /k)b', 'host mode /k'],
  );
  assert.ok(argvsIn('echo `chown a /b`', 'host').includes('chown a /b'));
  assert.deepEqual(analyseHook('echo $((1 + 2))').commands, [
    { guest: 'host', argv: ['echo', '$((1 + 2))'] },
  ]);
});

test('a guest id that is not a literal number is reported', () => {
  const analysis = analyseHook('pct exec $CTID -- chmod 600 /k');
  assert.match(analysis.problems.join('\n'), /guest id "\$CTID" is not a literal number/);
  assert.deepEqual(analysis.writes, [mode('host', '/k', '600')]);
});

test('unbalanced quotes and unterminated expansions are problems, not exceptions', () => {
  const analysis = analyseHook(`pct exec 101 -- bash -c 'chmod 600 /k`);
  assert.match(analysis.problems.join('\n'), /unbalanced single quote at offset 24/);
  assert.deepEqual(analysis.writes, [mode(101, '/k', '600')], 'best effort still sees the chmod');
  assert.equal(analysis.followUp, undefined);
  assert.match(analyseHook('echo "abc').problems.join('\n'), /unbalanced double quote/);
  assert.match(analyseHook('echo $(date').problems.join('\n'), /unterminated \$\( at offset 5/);
});

test('empty, blank and comment-only hooks find nothing', () => {
  const nothing = { writes: [], deploys: [], commands: [], problems: [] };
  for (const hook of ['', '   \n\t ', '# chmod 600 /k']) assert.deepEqual(analyseHook(hook), nothing);
});

test('command names that are Object.prototype keys are ordinary commands', () => {
  const analysis = analyseHook('constructor a b; __proto__ c; toString d; hasOwnProperty e');
  assert.deepEqual([analysis.writes, analysis.deploys, analysis.problems], [[], [], []]);
  assert.equal(analysis.commands.length, 4);
});

test('nesting beyond the depth limit is reported instead of followed', () => {
  const deep = analyseHook(`${'pct exec 1 -- '.repeat(12)}chmod 600 /k`);
  assert.match(deep.problems.join('\n'), /nesting deeper than 10 levels/);
  assert.deepEqual(deep.writes, []);
  const shallow = analyseHook(`${'$('.repeat(3)}chmod 600 /k${')'.repeat(3)}`);
  assert.deepEqual([shallow.writes.map((w) => w.path), shallow.problems], [['/k'], []]);
});

// Speed is the benchmark's business; the generous timeout only turns a hang (exponential backtracking) into a failure.
test('hostile 100 KB strings terminate with bounded problems', { timeout: 60_000 }, () => {
  const size = 100_000;
  const hostile = [
    "'".repeat(size - 1),
    '"'.repeat(size - 1),
    '$('.repeat(size / 2),
    '`'.repeat(size - 1),
    '('.repeat(size),
    '>'.repeat(size),
    '\\'.repeat(size - 1),
    `bash -c "`.repeat(size / 9),
    'pct exec 1 -- '.repeat(size / 14),
    `${'nohup '.repeat(size / 6 - 3)}chmod 600 /k`,
    'chmod 600 /k;'.repeat(size / 13),
    `mv ${'/'.repeat(size)}x ${'/'.repeat(size)}`,
    'a'.repeat(size),
  ];
  for (const hook of hostile) {
    const analysis = analyseHook(hook);
    assert.ok(
      analysis.problems.length <= 21,
      `${hook.slice(0, 12)}… reported ${analysis.problems.length} problems`,
    );
  }
  assert.equal(analyseHook(hostile[9]!).writes.length, 1, 'a long wrapper chain still reaches the chmod');
  assert.equal(analyseHook(hostile[10]!).writes.length, Math.floor(size / 13));
  assert.equal(pathMatches('*a'.repeat(size / 2), `${'a'.repeat(60)}b`), false);
});

test('pathMatches: * and ? stay within a segment; classes, ranges, negation, escapes, dotfiles', () => {
  const cases: Array<[string, string, boolean]> = [
    ['/etc/nginx/ssl/*.key', '/etc/nginx/ssl/nginx.internal.thinkheads.ai.key', true],
    ['/etc/nginx/ssl/*.key', '/etc/nginx/ssl/nginx.crt', false],
    ['/etc/nginx/*', '/etc/nginx/ssl/x.key', false],
    ['/etc/*/x.key', '/etc/nginx/x.key', true],
    ['/etc/nginx/ssl/nginx-client.*', '/etc/nginx/ssl/nginx-client.key', true],
    ['/etc/ssl/k?y.pem', '/etc/ssl/key.pem', true],
    ['/etc/ssl/k?y.pem', '/etc/ssl/ky.pem', false],
    ['/etc/ssl/[kc]ey.pem', '/etc/ssl/cey.pem', true],
    ['/etc/ssl/[!kc]ey.pem', '/etc/ssl/key.pem', false],
    ['/etc/ssl/[a-m]ey.pem', '/etc/ssl/key.pem', true],
    ['/etc/ssl/[n-z]ey.pem', '/etc/ssl/key.pem', false],
    ['/etc/ssl/\\*.pem', '/etc/ssl/*.pem', true],
    ['/etc/ssl/\\*.pem', '/etc/ssl/a.pem', false],
    ['/etc/ssl/*', '/etc/ssl/.hidden', false],
    ['/etc/ssl/.*', '/etc/ssl/.hidden', true],
    ['/etc/ssl/[x', '/etc/ssl/[x', true],
    ['/etc/ssl/key.pem', '/etc/ssl/key.pem', true],
    ['/etc/ssl/*a*b*c', '/etc/ssl/xaybzc', true],
    ['/etc/ssl/*a*b*c', '/etc/ssl/xaybz', false],
  ];
  for (const [pattern, path, expected] of cases)
    assert.equal(pathMatches(pattern, path), expected, `${pattern} vs ${path}`);
});
