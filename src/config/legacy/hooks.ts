/**
 * Static analysis of the legacy manifest's `post_renewal_command` shell strings.
 *
 * The bash tool ran these on the Proxmox host after a renewal; Phoenix never runs them. `phoenix validate`
 * uses this analysis to catch hooks that write files another resource owns (the chmod-after-renewal bug),
 * hooks that deploy stacks outside the dependency graph (the compose-before-volume race), and to turn the
 * plain "reload nginx" hooks into follow-up nodes. The shell parser is deliberately small: it understands
 * what real hooks use and reports what it cannot follow as problems instead of guessing silently.
 */

import { pathMatches } from './glob.js';
import { parse, type Redirect, type Word } from './shell-words.js';

export { pathMatches };

export type GuestRef = number | 'host';
export interface HookWrite {
  guest: GuestRef;
  path: string;
  what: 'mode' | 'owner' | 'content';
  command: string;
}
export interface HookDeploy {
  guest: GuestRef;
  command: string;
}
export type HookFollowUp =
  | { type: 'reload-service'; guest: GuestRef; service: string }
  | { type: 'restart-container'; guest: GuestRef; container: string };
export interface HookAnalysis {
  /** Set only when the whole hook is exactly one `systemctl reload|restart X` or `docker restart X`. */
  followUp?: HookFollowUp;
  writes: HookWrite[];
  deploys: HookDeploy[];
  /** Every simple command found, with the guest it runs in, for messages. */
  commands: Array<{ guest: GuestRef; argv: string[] }>;
  /** Parse problems and constructs that were not followed; the analysis is best-effort then. */
  problems: string[];
}

type What = HookWrite['what'];
type ParsedArgs = { operands: string[]; options: Map<string, string> };
interface Context {
  result: HookAnalysis;
  /** Commands left after unwrapping sudo/pct exec/bash -c; a follow-up must be the only one. */
  leaves: Array<{ guest: GuestRef; argv: string[] }>;
  note: (problem: string) => void;
}

const split = (list: string) => list.split(' ');
const set = (list: string): ReadonlySet<string> => new Set(split(list));
const MAX_DEPTH = 10; // nested bash -c / pct exec / $(...); real hooks use two or three
const MAX_PROBLEMS = 20; // a hostile string must not produce a hostile report
// Multi-character redirections, longest first; other operators are single characters that end a command.
const KEYWORDS = set('while until if then else elif fi do done in esac time { } !');
const LOOP_HEADERS = set('for case select'); // their words are variables and patterns, not commands
const SHELLS = set('bash sh dash ash zsh ksh');
const DISCARDED = /^\/dev\/(null|stdout|stderr|fd\/\d+)$/; // redirecting there writes no file anyone owns
const GUEST_EXEC_VALUED = set('--keep-env --timeout --synchronous --pass-stdin');
const SUDO_VALUED = set('-u -g -h -p -r -t -U -C -D -T -R');
const ENV_VALUED = set('-u -C --unset --chdir');
const TIMEOUT_VALUED = set('-s -k --signal --kill-after');
const RUNUSER_VALUED = set('-u --user -g -G -s -w --group --supp-group --shell');
const COPY_VALUED = set('-t --target-directory -S --suffix -m --mode -o --owner -g');
const DOCKER_VALUED = set('-H --host -c --context --config -l --log-level');
const COMPOSE_VALUED = set('-f --file -p --project-name --env-file --profile');
const NONE: ReadonlySet<string> = new Set();

export function analyseHook(command: string): HookAnalysis {
  const result: HookAnalysis = { writes: [], deploys: [], commands: [], problems: [] };
  const { problems } = result;
  const note = (problem: string): void => {
    if (problems.length > MAX_PROBLEMS || problems.includes(problem)) return;
    problems.push(problems.length < MAX_PROBLEMS ? problem : 'further problems omitted');
  };
  const context: Context = { result, leaves: [], note };
  analyseScript(command, 'host', context, 0);
  const followUp = soleFollowUp(context);
  return followUp ? { followUp, ...result } : result;
}

function analyseScript(script: string, guest: GuestRef, context: Context, depth: number): void {
  if (depth > MAX_DEPTH) return context.note(`nesting deeper than ${MAX_DEPTH} levels is not analysed`);
  const { commands, substitutions } = parse(script, context.note);
  for (const command of commands) {
    const argv = command.words.slice(commandStart(command.words)).map((word) => word.text);
    // The calling shell opens redirections, so they land in this guest even after `pct exec N --`.
    for (const redirect of command.redirects) redirectWrite(redirect, argv, guest, context);
    if (argv.length === 0) continue;
    context.result.commands.push({ guest, argv });
    analyseArgv(argv, guest, context, depth);
  }
  // Substitutions are expanded by the shell reading this script, hence the same guest.
  for (const substitution of substitutions) analyseScript(substitution, guest, context, depth + 1);
}

/** Peels wrappers off one simple command until the command that does the work is left. */
function analyseArgv(argv: string[], guest: GuestRef, context: Context, depth: number): void {
  let at = 0;
  while (at < argv.length) {
    const name = basename(argv[at]!);
    const target = guestExec(argv, at, name, guest, context.note);
    if (target) {
      if (++depth > MAX_DEPTH) return context.note(`nesting deeper than ${MAX_DEPTH} levels is not analysed`);
      [guest, at] = [target.guest, target.at];
      if (at < argv.length) context.result.commands.push({ guest, argv: argv.slice(at) });
      continue;
    }
    const step = SHELLS.has(name) ? shellScript(argv, at) : WRAPPERS.get(name)?.(argv, at);
    if (step === undefined) return classify(argv.slice(at), name, guest, context);
    if (typeof step === 'string') return analyseScript(step, guest, context, depth + 1);
    at = step;
  }
}

function guestExec(argv: string[], at: number, name: string, current: GuestRef, note: Context['note']) {
  const isPct = name === 'pct' && argv[at + 1] === 'exec';
  if (!isPct && !(name === 'qm' && argv[at + 1] === 'guest' && argv[at + 2] === 'exec')) return undefined;
  const idAt = at + (isPct ? 2 : 3);
  const id = argv[idAt] ?? '';
  const inner = firstOperand(argv, idAt + 1, GUEST_EXEC_VALUED);
  if (/^\d+$/.test(id)) return { guest: Number(id), at: inner };
  note(`guest id "${id.slice(0, 40)}" is not a literal number; its commands are attributed to ${current}`);
  return { guest: current, at: inner };
}

/** Where each wrapper's command starts, or the script it runs; `bash file.sh` is out of sight (undefined). */
const WRAPPERS = new Map<string, (argv: string[], at: number) => number | string | undefined>(
  Object.entries({
    nohup: (_, at) => at + 1,
    exec: (_, at) => at + 1,
    sudo: (argv, at) => skipAssignments(argv, firstOperand(argv, at + 1, SUDO_VALUED)),
    env: (argv, at) => skipAssignments(argv, firstOperand(argv, at + 1, ENV_VALUED)),
    timeout: (argv, at) => firstOperand(argv, at + 1, TIMEOUT_VALUED) + 1, // that operand is the duration
    runuser: unwrapRunuser,
    su: unwrapRunuser,
  }),
);

/** `runuser -u USER [--] CMD` runs CMD; `runuser USER -c SCRIPT` and `su USER -c SCRIPT` run a script. */
function unwrapRunuser(argv: string[], at: number): number | string | undefined {
  if (argv.includes('-u', at + 1)) return firstOperand(argv, at + 1, RUNUSER_VALUED);
  const script = argv.indexOf('-c', at + 1);
  return script < 0 ? undefined : argv[script + 1];
}

/** The script of `bash [-e] -c SCRIPT`. */
function shellScript(argv: string[], at: number): string | undefined {
  let hasCommandFlag = false;
  for (let i = at + 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-o' || arg === '+o' || arg === '-O' || arg === '+O') i++;
    else if (arg === '--') return hasCommandFlag ? argv[i + 1] : undefined;
    else if (/^[-+][^-]/.test(arg)) hasCommandFlag ||= arg.startsWith('-') && arg.includes('c');
    else if (!arg.startsWith('--')) return hasCommandFlag ? arg : undefined;
  }
  return undefined;
}

function classify(argv: string[], name: string, guest: GuestRef, context: Context): void {
  context.leaves.push({ guest, argv });
  const command = argv.join(' ');
  for (const write of FILE_WRITERS.get(name)?.(argv) ?? [])
    context.result.writes.push({ guest, command, ...write });
  if (isDeploy(name, argv)) context.result.deploys.push({ guest, command });
}

type Writes = Array<{ what: What; path: string }>;
const each = (what: What, paths: string[]): Writes => paths.map((path) => ({ what, path }));
// A chmod mode may look like a flag (`chmod -w f`), so only real flags count as options there.
const isChmodFlag = (arg: string) => /^(-[RcfvHLP]+|--.+)$/.test(arg);
const FILE_WRITERS = new Map<string, (argv: string[]) => Writes>(
  Object.entries({
    chmod: (argv) => each('mode', attributeTargets(parseArgs(argv, NONE, isChmodFlag))),
    chown: (argv) => each('owner', attributeTargets(parseArgs(argv, NONE))),
    chgrp: (argv) => each('owner', attributeTargets(parseArgs(argv, NONE))),
    mv: (argv) => each('content', copyDestinations(parseArgs(argv, COPY_VALUED))),
    cp: (argv) => each('content', copyDestinations(parseArgs(argv, COPY_VALUED))),
    install: (argv) => installWrites(parseArgs(argv, COPY_VALUED)),
    tee: (argv) => each('content', parseArgs(argv, NONE).operands),
  }),
);

function attributeTargets({ operands, options }: ParsedArgs): string[] {
  return options.has('--reference') ? operands : operands.slice(1);
}

function copyDestinations({ operands, options }: ParsedArgs): string[] {
  const directory = options.get('-t') ?? options.get('--target-directory');
  if (directory !== undefined) return operands.map((source) => intoDirectory(directory, source));
  const sources = operands.slice(0, -1);
  const destination = operands.at(-1);
  if (destination === undefined || sources.length === 0) return [];
  if (sources.length > 1 || destination.endsWith('/'))
    return sources.map((s) => intoDirectory(destination, s));
  return [destination];
}

/** install's -m/-o/-g are chmod/chown in disguise, so they count as attribute writes too. */
function installWrites(parsed: ParsedArgs): Writes {
  const has = (...flags: string[]) => flags.some((flag) => parsed.options.has(flag));
  const kinds: What[] = ['content'];
  if (has('-m', '--mode')) kinds.push('mode');
  if (has('-o', '--owner', '-g', '--group')) kinds.push('owner');
  return kinds.flatMap((what) => copyDestinations(parsed).map((path) => ({ what, path })));
}

function isDeploy(name: string, argv: string[]): boolean {
  const subcommandAfter = (at: number) => argv[firstOperand(argv, at, COMPOSE_VALUED)];
  if (name === 'docker-compose') return subcommandAfter(1) === 'up';
  if (name !== 'docker') return false;
  const at = firstOperand(argv, 1, DOCKER_VALUED);
  const [group, action] = [argv[at], argv[at + 1]];
  if (group === 'compose') return subcommandAfter(at + 1) === 'up';
  if (group === 'stack') return action === 'deploy' || action === 'up'; // `up` is deploy's alias
  return group === 'run' || (group === 'container' && action === 'run');
}

function redirectWrite({ op, target }: Redirect, argv: string[], guest: GuestRef, context: Context): void {
  if (op.includes('<<') && !op.includes('<<<')) return context.note('here-documents are not analysed');
  if (op.includes('<') || DISCARDED.test(target)) return;
  if (op.endsWith('&') && /^(\d+|-)$/.test(target)) return; // `2>&1` duplicates a descriptor
  const command = [...argv, op, target].join(' ');
  context.result.writes.push({ guest, path: target, what: 'content', command });
}

function soleFollowUp({ leaves, result }: Context): HookFollowUp | undefined {
  const leaf = leaves[0];
  if (leaves.length !== 1 || !leaf || result.writes.length > 0 || result.problems.length > 0)
    return undefined;
  const [program = '', verb, target, ...extra] = leaf.argv;
  if (target === undefined || extra.length > 0) return undefined;
  const { guest } = leaf;
  if (basename(program) === 'systemctl' && (verb === 'reload' || verb === 'restart')) {
    return { type: 'reload-service', guest, service: target };
  }
  if (basename(program) === 'docker' && verb === 'restart' && guest !== 'host') {
    return { type: 'restart-container', guest, container: target };
  }
  return undefined;
}

/** Skips leading keywords and `VAR=value`; a for/case header has no command at all. */
function commandStart(words: Word[]): number {
  let i = 0;
  for (; i < words.length; i++) {
    const { text, literalUntil } = words[i]!;
    const unquoted = literalUntil >= text.length;
    if (unquoted && LOOP_HEADERS.has(text)) return words.length;
    if (!(unquoted && KEYWORDS.has(text)) && !isAssignment(text)) break;
  }
  return i;
}

/** Index of the first operand, stepping over flags and the values of `valuedFlags`. */
function firstOperand(argv: string[], from: number, valuedFlags: ReadonlySet<string>): number {
  let i = from;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg === '--') return i + 1;
    if (!arg.startsWith('-') || arg === '-') return i;
    i += valuedFlags.has(arg) ? 2 : 1;
  }
  return i;
}

function skipAssignments(argv: string[], from: number): number {
  let i = from;
  while (i < argv.length && isAssignment(argv[i]!)) i++;
  return i;
}

function isAssignment(word: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*=/.test(word);
}

/** GNU-style arguments: flags may follow operands; `--x=v`, `-x v` and `-xv` all carry a value. */
function parseArgs(argv: string[], valuedFlags: ReadonlySet<string>, isFlag = looksLikeFlag): ParsedArgs {
  const parsed: ParsedArgs = { operands: [], options: new Map() };
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    if (arg === '--') argv.slice(i + 1).forEach((rest) => parsed.operands.push(rest));
    if (arg === '--') break;
    if (!isFlag(arg)) parsed.operands.push(arg);
    else if (arg.startsWith('--') && eq > 0) parsed.options.set(arg.slice(0, eq), arg.slice(eq + 1));
    else if (valuedFlags.has(arg)) parsed.options.set(arg, argv[++i] ?? '');
    else if (!arg.startsWith('--') && valuedFlags.has(arg.slice(0, 2)))
      parsed.options.set(arg.slice(0, 2), arg.slice(2));
    else parsed.options.set(arg, '');
  }
  return parsed;
}

function looksLikeFlag(arg: string): boolean {
  return arg.startsWith('-') && arg !== '-';
}

function basename(path: string): string {
  let end = path.length;
  while (end > 1 && path[end - 1] === '/') end--; // a loop, not /\/+$/, which backtracks on hostile input
  return path.slice(path.lastIndexOf('/', end - 1) + 1, end);
}

function intoDirectory(directory: string, source: string): string {
  return `${directory}${directory.endsWith('/') ? '' : '/'}${basename(source)}`;
}
