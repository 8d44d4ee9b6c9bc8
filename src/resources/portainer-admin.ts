import { DriverError } from '../drivers/errors.js';
import type { Handler } from './types.js';
import { noop } from './types.js';
import { decideNotReady, whenReady, type Readiness } from './not-ready.js';

/**
 * Portainer's administrator, created on first start with the password from its secret reference (inside
 * Portainer's initialisation window; the driver explains a missed window). "Exists" is the admin check's
 * status code, never a field of an answer.
 */
export const portainerAdminHandler: Handler<Readiness<boolean>> = {
  kind: 'portainer-admin',
  read: (ctx) => whenReady(() => ctx.drivers.portainer.adminExists()),
  decide(node, seen, upstream) {
    if (node.spec.kind !== 'portainer-admin') throw new Error(`${node.id} is not a Portainer admin`);
    const what = `initialise Portainer's administrator "${node.spec.user}"`;
    if (!('value' in seen)) return decideNotReady(seen.notReady, upstream, what);
    return seen.value ? noop('Portainer has its administrator') : { action: 'create', reason: what };
  },
  async apply(ctx) {
    await ctx.drivers.portainer.initAdmin();
  },
  async verify(ctx) {
    if (!(await ctx.drivers.portainer.adminExists()))
      throw new DriverError('Portainer still reports no administrator after initialising it');
  },
};
