import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttp, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  hostsOfRule,
  parseDynamic,
  routeFor,
  startStandIn,
  type StandIn,
} from '../../src/lab/services/traefik-standin.js';

/**
 * The lab's Traefik stand-in against real backends on 127/8: routing by Host, Traefik's own 404/502/503,
 * https backends verified against the transport's rootCAs, re-reading the file when it changes.
 */

const HOST = '127.0.88.1';

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA and a leaf for `name` signed by it (argv only, throwaway keys). */
function pki(dir: string, name: string): { root: string; cert: string; key: string } {
  const p = (f: string) => join(dir, f);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=standin test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
  ]);
  openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    p('leaf.key'),
    '-out',
    p('leaf.csr'),
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name}`,
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    p('leaf.csr'),
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('leaf.crt'),
    '-days',
    '1',
    '-copy_extensions',
    'copy',
  ]);
  return { root: p('ca.crt'), cert: p('leaf.crt'), key: p('leaf.key') };
}

interface Seen {
  readonly name: string;
  readonly headers: IncomingHttpHeaders;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, HOST, () => resolve((server.address() as AddressInfo).port)),
  );
}

function get(port: number, host: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const r = request(
      { host: HOST, port, path: '/x?y=1', headers: { host, ...headers }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    r.on('error', reject);
    r.end();
  });
}

async function until<T>(what: string, f: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

test('hostsOfRule reads Host() rules, several hosts and ||; anything else is not understood', () => {
  assert.deepEqual(hostsOfRule('Host(`A.example`)'), ['a.example']);
  assert.deepEqual(hostsOfRule('Host(`a.example`, `b.example`) || Host(`c.example`)'), [
    'a.example',
    'b.example',
    'c.example',
  ]);
  assert.equal(hostsOfRule('PathPrefix(`/api`)'), undefined);
  assert.equal(hostsOfRule('Host(`a.example`) && PathPrefix(`/api`)'), undefined);
});

test('routeFor follows entryPoints, skips routers without a service, and prefers the longer rule', () => {
  const dyn = parseDynamic(`
http:
  routers:
    web: { rule: "Host(\`a.example\`)", service: s1, entryPoints: [web] }
    tls: { rule: "Host(\`b.example\`)", service: s1, entryPoints: [websecure] }
    orphan: { rule: "Host(\`c.example\`)", service: missing }
    long: { rule: "Host(\`a.example\`) || Host(\`z.example\`)", service: s2 }
  services:
    s1: { loadBalancer: { servers: [{ url: "http://127.0.0.1:1" }] } }
    s2: { loadBalancer: { servers: [{ url: "http://127.0.0.1:2" }] } }
`);
  assert.equal(routeFor(dyn, 'A.example:80')?.router, 'long');
  assert.equal(routeFor(dyn, 'b.example'), undefined);
  assert.equal(routeFor(dyn, 'c.example'), undefined);
  assert.equal(routeFor(dyn, 'z.example')?.serviceName, 's2');
});

test(
  'the stand-in routes by Host, answers like Traefik, verifies https backends and follows the file',
  { timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'phoenix-standin-'));
    const servers: Server[] = [];
    const running: { standIn?: StandIn } = {};
    t.after(async () => {
      await running.standIn?.close();
      for (const s of servers) s.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const seen: Seen[] = [];
    const backend = (name: string, status = 200) => {
      const s = createHttp((req, res) => {
        seen.push({ name, headers: req.headers });
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(`${name} ${req.url}`);
      });
      servers.push(s);
      return listen(s);
    };
    const plain = await backend('plain');
    const sick = await backend('sick', 500);
    const material = pki(dir, 'secure.internal.test');
    // The rootCAs path as the guest names it; the stand-in finds it through --relocate, as in the lab.
    mkdirSync(join(dir, 'relocated'));
    writeFileSync(join(dir, 'relocated', 'root.crt'), readFileSync(material.root));
    const other = pki(mkdtempSync(join(dir, 'other-')), 'secure.internal.test');
    const secureServer = createHttps(
      { cert: readFileSync(material.cert), key: readFileSync(material.key) },
      (req, res) => {
        seen.push({ name: 'secure', headers: req.headers });
        res.end('secure');
      },
    );
    servers.push(secureServer);
    const secure = await listen(secureServer);
    const closed = await backend('gone');
    servers.at(-1)!.close();

    const file = join(dir, 'dynamic', 'phoenix.yml');
    mkdirSync(join(dir, 'dynamic'));
    const config = (extra = '') => `
http:
  routers:
    plain: { rule: "Host(\`plain.internal.test\`)", service: plain, entryPoints: [web] }
    secure: { rule: "Host(\`secure.internal.test\`)", service: secure, entryPoints: [web] }
    wrongca: { rule: "Host(\`wrongca.internal.test\`)", service: wrongca, entryPoints: [web] }
    down: { rule: "Host(\`down.internal.test\`)", service: down, entryPoints: [web] }
    sick: { rule: "Host(\`sick.internal.test\`)", service: sick, entryPoints: [web] }
${extra}
  services:
    plain: { loadBalancer: { servers: [{ url: "http://${HOST}:${plain}" }] } }
    secure: { loadBalancer: { servers: [{ url: "https://${HOST}:${secure}" }], serversTransport: secure-ca } }
    wrongca: { loadBalancer: { servers: [{ url: "https://${HOST}:${secure}" }], serversTransport: wrong-ca } }
    down: { loadBalancer: { servers: [{ url: "http://${HOST}:${closed}" }] } }
    sick:
      loadBalancer:
        servers: [{ url: "http://${HOST}:${sick}" }]
        healthCheck: { path: /health, interval: 100ms, timeout: 1s }
  serversTransports:
    secure-ca: { serverName: secure.internal.test, rootCAs: [/usr/local/share/ca/root.crt] }
    wrong-ca: { serverName: secure.internal.test, rootCAs: [${other.root}] }
`;
    writeFileSync(file, config());
    const lines: string[] = [];
    const standIn = await startStandIn({
      file,
      relocate: [['/usr/local/share/ca/', `${join(dir, 'relocated')}/`]],
      listen: { host: HOST, port: 0 },
      log: (l) => lines.push(l),
    });
    running.standIn = standIn;
    const port = (standIn.server.address() as AddressInfo).port;

    const r = await get(port, 'plain.internal.test', { 'x-forwarded-proto': 'https' });
    assert.deepEqual(r, { status: 200, body: 'plain /x?y=1' });
    const h = seen.at(-1)!.headers;
    assert.equal(h.host, 'plain.internal.test', 'the Host header is passed on');
    assert.equal(h['x-forwarded-proto'], 'https', "the gateway's forwarded proto is kept");
    assert.equal(h['x-forwarded-host'], 'plain.internal.test');
    assert.match(String(h['x-forwarded-for']), /^127\./);

    assert.deepEqual(await get(port, 'nobody.internal.test'), { status: 404, body: '404 page not found\n' });
    assert.deepEqual(await get(port, 'secure.internal.test'), { status: 200, body: 'secure' });
    assert.deepEqual(await get(port, 'wrongca.internal.test'), { status: 502, body: 'Bad Gateway' });
    assert.deepEqual(await get(port, 'down.internal.test'), { status: 502, body: 'Bad Gateway' });
    // The failing health check takes the only server out: Traefik answers 503 itself.
    await until(
      'the health check to fail',
      () => get(port, 'sick.internal.test'),
      (v) => v.status === 503,
    );

    // A new router appears when the file is replaced (write aside, rename: how Phoenix installs files).
    writeFileSync(
      `${file}.tmp`,
      config('    extra: { rule: "Host(`extra.internal.test`)", service: plain }'),
    );
    renameSync(`${file}.tmp`, file);
    await until(
      'the new router',
      () => get(port, 'extra.internal.test'),
      (v) => v.status === 200,
    );

    // A file that does not parse is logged; the last good configuration stays.
    writeFileSync(file, 'http: [this is: not: valid');
    await until(
      'the parse error to be logged',
      async () => lines.join('\n'),
      (l) => /keeping the last good one/.test(l),
    );
    assert.equal((await get(port, 'extra.internal.test')).status, 200);
  },
);
