import { createPrivateKey, webcrypto } from 'node:crypto';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadX509 } from '../../src/certs/x509.js';
import { createCaPki, randomSerial } from '../../src/lab/step-ca/pki.js';

/**
 * A tiny ACME CA on https://127.0.0.1:<port> for what pebble 2.4.0 cannot show: ACME Renewal Information
 * (RFC 9773) and the `replaces` field of new orders. Orders are ready at once (no authorizations); JWS
 * signatures are not checked, only payloads are recorded. The listener and the issued certificates chain
 * to the same root (`rootPem`).
 */

export interface RenewalAnswer {
  readonly status: number;
  readonly body: string;
}

export interface AcmeEmulator {
  readonly directoryUrl: string;
  readonly rootPem: string;
  /** Decoded JWS payloads of new-order requests. */
  readonly orders: Array<Record<string, unknown>>;
  /** Paths of renewalInfo GETs. */
  readonly renewalRequests: string[];
  /** The renewalInfo answer by certificate id (default 404). */
  readonly renewal: Map<string, RenewalAnswer>;
  /** When set, a new order with `replaces` is refused with this problem detail. */
  refuseReplaces?: string;
  /** Issues a certificate for an arbitrary public key (for ARI tests): leaf + intermediate PEM. */
  issueFor(publicKey: webcrypto.CryptoKey, serialHex: string): Promise<string>;
  close(): Promise<void>;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export async function startAcmeEmulator(options: { ari: boolean }): Promise<AcmeEmulator> {
  const x509 = await loadX509();
  const pki = await createCaPki({
    rootCommonName: 'Emulated ACME Root',
    intermediateCommonName: 'Emulated ACME CA',
  });
  const intermediate = new x509.X509Certificate(pki.intermediate.certPem);
  const signingKey = await webcrypto.subtle.importKey(
    'pkcs8',
    createPrivateKey(pki.intermediate.keyPem).export({ type: 'pkcs8', format: 'der' }),
    EC_P256,
    false,
    ['sign'],
  );
  const issuerPublicKey = await intermediate.publicKey.export();

  const sign = async (
    publicKey: webcrypto.CryptoKey,
    serialHex: string,
    names: Array<{ type: 'dns' | 'ip'; value: string }>,
  ) => {
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialHex,
      subject: [{ CN: [names[0]?.value ?? 'emulated'] }],
      issuer: intermediate.subjectName,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 90 * DAY_MS),
      publicKey,
      signingKey,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.SubjectAlternativeNameExtension(names),
        await x509.AuthorityKeyIdentifierExtension.create(issuerPublicKey),
      ],
    });
    return `${cert.toString('pem')}\n${pki.intermediate.certPem}`;
  };

  const listenerKeys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const listenerPem = await sign(listenerKeys.publicKey, randomSerial(), [
    { type: 'ip', value: '127.0.0.1' },
  ]);
  const listenerKey = createPrivateKey({
    key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', listenerKeys.privateKey)),
    format: 'der',
    type: 'pkcs8',
  }).export({ type: 'pkcs8', format: 'pem' });

  const orders: Array<Record<string, unknown>> = [];
  const renewalRequests: string[] = [];
  const renewal = new Map<string, RenewalAnswer>();
  let certificate = '';
  let base = '';
  const state = {} as AcmeEmulator;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const body = await new Promise<string>((ok) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => ok(text));
    });
    const payload = body === '' ? {} : decodePayload(body);
    res.setHeader('replay-nonce', randomSerial());
    const json = (status: number, value: unknown, location?: string) => {
      if (location) res.setHeader('location', location);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    };
    if (path === '/dir') {
      return json(200, {
        newNonce: `${base}/nonce`,
        newAccount: `${base}/account`,
        newOrder: `${base}/order`,
        ...(options.ari ? { renewalInfo: `${base}/renewal-info` } : {}),
      });
    }
    if (path === '/nonce') return res.writeHead(200).end();
    if (path === '/account') return json(201, { status: 'valid' }, `${base}/account/1`);
    if (path === '/account/1') return json(200, { status: 'valid' });
    if (path === '/order') {
      orders.push(payload);
      if (state.refuseReplaces !== undefined && 'replaces' in payload) {
        return json(409, {
          type: 'urn:ietf:params:acme:error:alreadyReplaced',
          detail: state.refuseReplaces,
        });
      }
      const order = {
        status: 'ready',
        identifiers: payload.identifiers,
        authorizations: [],
        finalize: `${base}/finalize`,
      };
      return json(201, order, `${base}/order/1`);
    }
    if (path === '/finalize') {
      const csr = new x509.Pkcs10CertificateRequest(Buffer.from(String(payload.csr), 'base64url'));
      const names = (orders.at(-1)?.identifiers ?? []) as Array<{ type: 'dns' | 'ip'; value: string }>;
      certificate = await sign(await csr.publicKey.export(), randomSerial(), names);
      return json(200, { status: 'valid', certificate: `${base}/cert` });
    }
    if (path === '/cert') {
      return res.writeHead(200, { 'content-type': 'application/pem-certificate-chain' }).end(certificate);
    }
    if (path.startsWith('/renewal-info/')) {
      renewalRequests.push(path);
      const answer = renewal.get(path.slice('/renewal-info/'.length)) ?? { status: 404, body: '' };
      return res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    }
    return json(404, { detail: `no route ${path}` });
  };

  const server = createServer({ cert: listenerPem, key: listenerKey }, (req, res) => {
    handle(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  base = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  return Object.assign(state, {
    directoryUrl: `${base}/dir`,
    rootPem: pki.root.certPem,
    orders,
    renewalRequests,
    renewal,
    issueFor: (publicKey: webcrypto.CryptoKey, serialHex: string) =>
      sign(publicKey, serialHex, [{ type: 'dns', value: 'ari.internal.test' }]),
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  });
}

function decodePayload(body: string): Record<string, unknown> {
  const jws = JSON.parse(body) as { payload?: string };
  if (!jws.payload) return {};
  return JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as Record<string, unknown>;
}
