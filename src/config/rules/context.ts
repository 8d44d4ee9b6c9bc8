import { basename, dirname, resolve } from 'node:path';
import { joinPointer, splitPointer, type Diagnostics, type Origin } from '../diagnostics.js';
import type { RawConfig } from '../load.js';
import type { CertificateEntry } from '../schema/certificates.js';
import type { SourceFile } from '../source.js';
import type { Certificate, Guest, GuestRef, Inventory } from '../../model/inventory.js';

/** What every rule sees: the typed inventory, the raw files (for exact pointers and texts), and the bag. */
export interface RuleContext {
  readonly inv: Inventory;
  readonly raw: RawConfig;
  readonly diags: Diagnostics;
}

/** A rule checks one concern and reports into ctx.diags; it never reads files or the network. */
export type Rule = (ctx: RuleContext) => void;

/** The origin of a field below an object whose origin is known. */
export function at(origin: Origin, ...segments: ReadonlyArray<string | number>): Origin {
  return { file: origin.file, pointer: joinPointer(origin.pointer, ...segments) };
}

/**
 * A place for a message: "certificate-manifest.json /0/key_path". Files in the config dir go by their
 * name, stack files by stacks/<name>/<file>, so messages stay short wherever validate was run from.
 */
export function describeOrigin(origin: Origin, configDir: string): string {
  const abs = resolve(origin.file);
  const stack = /(?:^|\/)(stacks\/[^/]+\/[^/]+)$/.exec(abs);
  const file = dirname(abs) === resolve(configDir) ? basename(abs) : stack ? stack[1]! : origin.file;
  return origin.pointer ? `${file} ${origin.pointer}` : file;
}

export function guestLabel(g: Guest): string {
  return `${g.kind === 'lxc' ? 'LXC' : 'VM'} ${g.id} "${g.name}"`;
}

/** How a guest reference reads in a message, whether or not the guest exists. */
export function refLabel(ref: GuestRef, inv: Inventory): string {
  if (ref === 'host') return 'the host';
  const g = inv.guests.get(ref);
  return g ? guestLabel(g) : `guest ${ref}`;
}

/** The manifest entry a certificate was built from, for fields the inventory does not keep (sans, permissions). */
export function certificateEntryOf(raw: RawConfig, cert: Certificate): CertificateEntry | undefined {
  const manifest = raw.certificates?.data;
  if (!manifest) return undefined;
  const entries = Array.isArray(manifest) ? manifest : manifest.certificates;
  return entries[Number(splitPointer(cert.origin.pointer).at(-1))];
}

/** Octal, the way chmod and the config write it: 0640. */
export function formatMode(mode: number): string {
  return '0' + mode.toString(8).padStart(3, '0');
}

/**
 * A warning located by an offset into a non-JSON file (docker-compose.yml): JSON pointers cannot reach
 * into YAML, so the line and column are set here instead of being resolved later.
 */
export function warnAtOffset(
  diags: Diagnostics,
  src: SourceFile | undefined,
  file: string,
  offset: number | undefined,
  code: string,
  message: string,
): void {
  diags.warning({ file, pointer: '' }, code, message);
  if (src && offset !== undefined) Object.assign(diags.items.at(-1)!, src.position(offset));
}
