import { Command, CommanderError, Option } from 'commander';
import { resolveConfigDir } from '../config/files.js';
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
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();

  const configDir = () => resolveConfigDir(program.opts<{ configDir?: string }>().configDir);
  const run = (fn: () => Promise<number>) => async () => setExit(await fn());

  program
    .command('validate')
    .description('check the configuration: schemas, references, cycles, ownership, legacy hooks; report every problem at once')
    .option('--json', 'print the result as JSON')
    .option('-q, --quiet', 'print errors only, no warnings')
    .addHelpText(
      'after',
      '\nEach problem is one line: file:line:column, severity, code, JSON pointer, message.\n' +
        'Exit status: 0 valid (warnings allowed), 2 invalid.',
    )
    .action((opts: { json?: boolean; quiet?: boolean }) =>
      run(async () => (await import('./commands/validate.js')).validateCommand({ configDir: configDir(), ...opts }))(),
    );

  program
    .command('graph')
    .description('print the resource graph, or the part of it the given resource ids need')
    .argument('[ids...]', 'resource ids such as guest/101 or cert/nginx.internal.example')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['mermaid', 'dot', 'json']).default('mermaid'))
    .option('--order', 'print one valid execution order instead, one resource id per line')
    .addHelpText('after', '\nEdges point from a requirement to what needs it; dashed edges are handler triggers.')
    .action((ids: string[], opts: { format: 'mermaid' | 'dot' | 'json'; order?: boolean }) =>
      run(async () => (await import('./commands/graph.js')).graphCommand(ids, { configDir: configDir(), ...opts }))(),
    );

  program
    .command('schema')
    .description('write the JSON Schemas of the config files, for editors')
    .argument('[name]', 'print just this schema to stdout (e.g. phoenix_lxc_configs.schema.json)')
    .option('-o, --out <dir>', 'directory to write all schemas to', 'schemas')
    .action((name: string | undefined, opts: { out?: string }) =>
      run(async () => (await import('./commands/schema.js')).schemaCommand(name, opts))(),
    );

  return program;
}

export async function main(argv: string[]): Promise<void> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here with exit code 0; usage errors with 1, which we make 2.
      code = e.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    } else {
      process.stderr.write(`phoenix: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      code = EXIT.failed;
    }
  }
  process.exitCode = code;
}
