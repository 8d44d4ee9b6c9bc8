import { Command, CommanderError, Option } from 'commander';
import { resolveConfigDir } from '../config/files.js';
import { labStateDirFor, resolveLabDir } from '../lab/state.js';
import { registerCertsCommands } from './commands/certs.js';
import { UsageError } from './commands/engine-options.js';
import { EXIT } from './exit-codes.js';

const VERSION = '0.1.0';

/**
 * The command line: parsing and dispatch only. Each command's module is imported when that command runs,
 * so `phoenix --help` and `phoenix validate` do not pay for what they do not use.
 */
export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('phoenix')
    .description(
      'Declarative orchestrator for Proxmox VE. Makes guests, certificates from the internal CA, the nginx ' +
        'gateway, the Traefik mesh, DNS, firewall and Docker stacks match a few JSON files, and verifies the result.',
    )
    .version(VERSION, '-V, --version')
    .addOption(
      new Option(
        '-c, --config-dir <dir>',
        'configuration directory (default: $PHOENIX_CONFIG_DIR, else /usr/local/phoenix_hypervisor/etc)',
      ),
    )
    .addOption(
      new Option(
        '--state-dir <dir>',
        'where the journal, lock and certificate store live (default: $PHOENIX_STATE_DIR, else ~/.local/state/phoenix)',
      ),
    )
    .addOption(
      new Option(
        '--driver <driver>',
        "act through this driver instead of the config's target; memory is a simulated host kept in the state dir",
      ).choices(['lab', 'proxmox', 'memory']),
    )
    .addOption(
      new Option('--lab-dir <dir>', "the lab's directory (default: $PHOENIX_LAB_DIR, else ./.phoenix-lab)"),
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();

  const configDir = () => resolveConfigDir(program.opts<{ configDir?: string }>().configDir);
  /** Explicit --state-dir or $PHOENIX_STATE_DIR; else the lab's own when acting on the lab (so `lab reset` clears it). */
  const stateDirFor = (g: { stateDir?: string; driver?: string }, dir: string, labDir: string) =>
    g.stateDir ?? (process.env.PHOENIX_STATE_DIR ? undefined : labStateDirFor(dir, g.driver, labDir));
  const run = (fn: () => Promise<number>) => async () => setExit(await fn());
  const engine = <T extends object>(opts: T) => {
    const g = program.opts<{ stateDir?: string; driver?: 'lab' | 'proxmox' | 'memory'; labDir?: string }>();
    const dir = configDir();
    const labDir = resolveLabDir(g.labDir);
    return { configDir: dir, stateDir: stateDirFor(g, dir, labDir), labDir, driver: g.driver, ...opts };
  };
  const withEngineOptions = (cmd: Command, mutating: boolean): Command => {
    cmd
      .option('--json', 'print JSON (plans as one document; progress as JSON Lines)')
      .option('-v, --verbose', 'also show unchanged resources and every driver call')
      .option('--concurrency <n>', 'resources worked on at once', '16')
      .option('--per-node-limit <n>', 'guest lifecycle actions at once per Proxmox node (config locks)', '4')
      .addOption(new Option('--memory-latency <ms>', 'per-call latency of the memory driver').hideHelp());
    if (mutating) cmd.option('-n, --dry-run', 'print what would happen; change nothing');
    return cmd;
  };

  program
    .command('validate')
    .description(
      'check the configuration: schemas, references, cycles, ownership, legacy hooks; report every problem at once',
    )
    .option('--json', 'print the result as JSON')
    .option('-q, --quiet', 'print errors only, no warnings')
    .addHelpText(
      'after',
      '\nEach problem is one line: file:line:column, severity, code, JSON pointer, message.\n' +
        'Exit status: 0 valid (warnings allowed), 2 invalid.',
    )
    .action((opts: { json?: boolean; quiet?: boolean }) =>
      run(async () =>
        (await import('./commands/validate.js')).validateCommand({ configDir: configDir(), ...opts }),
      )(),
    );

  program
    .command('graph')
    .description('print the resource graph, or the part of it the given resource ids need')
    .argument('[ids...]', 'resource ids such as guest/101 or cert/nginx.internal.example')
    .addOption(
      new Option('-f, --format <format>', 'output format')
        .choices(['mermaid', 'dot', 'json'])
        .default('mermaid'),
    )
    .option('--order', 'print one valid execution order instead, one resource id per line')
    .addHelpText(
      'after',
      '\nEdges point from a requirement to what needs it; dashed edges are handler triggers.',
    )
    .action((ids: string[], opts: { format: 'mermaid' | 'dot' | 'json'; order?: boolean }) =>
      run(async () =>
        (await import('./commands/graph.js')).graphCommand(ids, { configDir: configDir(), ...opts }),
      )(),
    );

  program
    .command('schema')
    .description('write the JSON Schemas of the config files, for editors')
    .argument('[name]', 'print just this schema to stdout (e.g. phoenix_lxc_configs.schema.json)')
    .option('-o, --out <dir>', 'directory to write all schemas to', 'schemas')
    .action((name: string | undefined, opts: { out?: string }) =>
      run(async () => (await import('./commands/schema.js')).schemaCommand(name, opts))(),
    );

  withEngineOptions(
    program
      .command('plan')
      .description('observe (read-only) and print every action with its reason; change nothing')
      .argument('[ids...]', '`all` (default) or resource ids; what they need is included')
      .option('-o, --out <file>', 'save the plan, to apply exactly it later with `phoenix apply FILE`'),
    false,
  )
    .addHelpText(
      'after',
      '\nExit status: 0 when the plan was made, 1 when some resource could not be observed, 2 for a bad configuration.',
    )
    .action((ids: string[], opts: object) =>
      run(async () => (await import('./commands/plan.js')).planCommand(ids, engine(opts)))(),
    );

  withEngineOptions(
    program
      .command('apply')
      .description(
        'apply exactly a saved plan; refuse if the configuration or the observed state changed since',
      )
      .argument('<file>', 'a plan saved by `phoenix plan --out`'),
    false,
  ).action((file: string, opts: object) =>
    run(async () => (await import('./commands/apply.js')).applyCommand(file, engine(opts)))(),
  );

  withEngineOptions(
    program
      .command('sync')
      .description('make the infrastructure match the configuration, in dependency order, and verify it')
      .argument(
        '<ids...>',
        '`all`, resource ids (e.g. guest/101 cert/nginx.internal.example), a VM id, or `stack NAME [to VMID]`; what they need is included',
      ),
    true,
  )
    .addHelpText(
      'after',
      '\nExamples:\n  phoenix sync all\n  phoenix sync stack qdrant_service to 1002   (the stack, its volumes, environment, Portainer, ...)\n' +
        '\nA resource starts once everything it requires succeeded; a failure skips what depends on it while\n' +
        'independent work goes on. Ctrl-C starts nothing new and lets running actions finish.\n' +
        'Exit status: 0 when every resource succeeded and verified, 1 otherwise, 130 when interrupted.',
    )
    .action((ids: string[], opts: object) =>
      run(async () => (await import('./commands/sync.js')).syncCommand(ids, engine(opts)))(),
    );

  const verbs: Array<[string, string, string]> = [
    [
      'create',
      'create the named guests and whatever they need that is missing (clone sources, dependencies); start nothing',
      '<ids...>',
    ],
    [
      'converge',
      're-apply the declaration to the named guests and their whole chain (create, reconfigure, start as declared)',
      '<ids...>',
    ],
    [
      'start',
      'start the named guests and the guests they depend on, in dependency and boot order (templates never start)',
      '<ids...>',
    ],
    ['stop', 'stop exactly the named guests, dependents first', '<ids...>'],
    ['restart', 'restart exactly the named guests, in boot order', '<ids...>'],
    [
      'delete',
      'destroy the named guests; refused while other guests depend on them unless --force (then those go first)',
      '<ids...>',
    ],
    ['LetsGo', 'create every guest, then start them in boot order (VMs too; templates never)', ''],
  ];
  for (const [verb, description, args] of verbs) {
    const cmd = withEngineOptions(program.command(verb).description(description), true);
    if (args) cmd.argument(args, 'guest ids, or `all`');
    if (verb === 'delete')
      cmd.option('--force', 'also delete the guests that depend on the named ones, first');
    cmd.action((...a: unknown[]) => {
      const ids = args ? (a[0] as string[]) : [];
      const opts = (args ? a[1] : a[0]) as object;
      return run(async () =>
        (await import('./commands/guests.js')).guestVerbCommand(verb as never, ids, engine(opts)),
      )();
    });
  }

  withEngineOptions(
    program
      .command('status')
      .description(
        'show every guest (containers and VMs): exists, running, drift from the configuration; read-only',
      )
      .argument('[ids...]', 'guest ids (default: all, plus guests the host has that are not declared)'),
    false,
  ).action((ids: string[], opts: object) =>
    run(async () => (await import('./commands/guests.js')).statusCommand(ids, engine(opts)))(),
  );

  program
    .command('lab')
    .description(
      'the lab: a local stand-in for a Proxmox host (real step-ca, nginx, dnsmasq; emulated Proxmox, Docker, Portainer)',
    )
    .argument('<action>', 'up | down | status | reset')
    .option('--json', 'status: print JSON')
    .addHelpText(
      'after',
      '\nup: start the lab (idempotent) and print what runs where; down: stop every process the lab started;\n' +
        'status: guests, addresses, services and their health; reset: down, then remove all lab state.',
    )
    .action((action: string, cmdOpts: { json?: boolean }) =>
      run(async () => {
        if (!['up', 'down', 'status', 'reset'].includes(action))
          throw new UsageError(`lab: unknown action "${action}" (up, down, status, reset)`);
        const g = program.opts<{ labDir?: string; configDir?: string }>();
        const { labCommand } = await import('./commands/lab.js');
        return labCommand(action as 'up', {
          labDir: resolveLabDir(g.labDir),
          json: cmdOpts.json === true,
          ...(action === 'up' || g.configDir || process.env.PHOENIX_CONFIG_DIR
            ? { configDir: configDir() }
            : {}),
        });
      })(),
    );

  registerCertsCommands(program, {
    engine,
    withEngineOptions,
    run,
    labDirGiven: () => Boolean(program.opts<{ labDir?: string }>().labDir ?? process.env.PHOENIX_LAB_DIR),
  });

  program
    .command('history')
    .description('list recorded runs, or show one run and each of its actions')
    .argument('[run]', 'a run id, a unique prefix of one, or `last`')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'how many runs to list', '20')
    .action((runId: string | undefined, opts: { json?: boolean; limit: string }) =>
      run(async () => {
        const { resolveStateDir } = await import('../engine/state-dir.js');
        const { historyCommand } = await import('./commands/history.js');
        return historyCommand(runId, {
          stateDir: resolveStateDir(
            stateDirFor(
              program.opts<{ stateDir?: string; driver?: string }>(),
              configDir(),
              resolveLabDir(program.opts<{ labDir?: string }>().labDir),
            ),
          ),
          json: opts.json,
          limit: Number(opts.limit) || 20,
        });
      })(),
    );

  return program;
}

/** A reader that went away (`phoenix sync all | head`) must not kill a run halfway: keep working, stop printing. */
function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
}

export async function main(argv: string[]): Promise<void> {
  ignoreClosedPipes();
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here with exit code 0; usage errors with 1, which we make 2.
      code = e.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    } else if (e instanceof UsageError) {
      process.stderr.write(`phoenix: ${e.message}\n`);
      code = EXIT.invalid;
    } else {
      process.stderr.write(
        `phoenix: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
      );
      code = EXIT.failed;
    }
  }
  process.exitCode = code;
}
