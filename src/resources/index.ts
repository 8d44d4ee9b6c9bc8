import type { ResourceKind } from '../graph/types.js';
import { certHandler } from './cert.js';
import { fileHandler } from './file.js';
import { guestHandler } from './guest.js';
import { issuerHandler } from './issuer.js';
import { dnsHandler, firewallHandler, gatewayHandler, meshHandler, trustHandler } from './network.js';
import { portainerAdminHandler } from './portainer-admin.js';
import { portainerAgentHandler } from './portainer-agent.js';
import { portainerEnvironmentHandler } from './portainer-environment.js';
import { portainerServerHandler } from './portainer-server.js';
import { powerHandler } from './power.js';
import { reachHandler } from './reach.js';
import { reloadHandler } from './reload.js';
import { removalHandler } from './removal.js';
import { restartHandler } from './restart.js';
import { stackHandler } from './stack.js';
import type { Handler } from './types.js';
import { volumeHandler } from './volume.js';

/** Each handler reads and decides its own observation type; the engine passes it through untouched. */
const erase = <O>(h: Handler<O>): Handler => h as unknown as Handler;

/** One handler per resource kind; the record type makes a missing kind a compile error. */
const HANDLERS: Record<ResourceKind, Handler> = {
  guest: erase(guestHandler),
  issuer: erase(issuerHandler),
  cert: erase(certHandler),
  file: erase(fileHandler),
  reload: erase(reloadHandler),
  restart: erase(restartHandler),
  volume: erase(volumeHandler),
  stack: erase(stackHandler),
  'portainer-server': erase(portainerServerHandler),
  'portainer-admin': erase(portainerAdminHandler),
  'portainer-agent': erase(portainerAgentHandler),
  'portainer-environment': erase(portainerEnvironmentHandler),
  dns: erase(dnsHandler),
  firewall: erase(firewallHandler),
  gateway: erase(gatewayHandler),
  mesh: erase(meshHandler),
  trust: erase(trustHandler),
  reach: erase(reachHandler),
  power: erase(powerHandler),
  removal: erase(removalHandler),
};

export function handlerFor(kind: ResourceKind): Handler {
  return HANDLERS[kind];
}
