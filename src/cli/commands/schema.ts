import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonSchemas } from '../../config/json-schema.js';
import { EXIT } from '../exit-codes.js';

export interface SchemaOptions {
  out?: string;
}

export async function schemaCommand(name: string | undefined, opts: SchemaOptions): Promise<number> {
  const schemas = jsonSchemas();
  if (name !== undefined) {
    const schema = schemas.get(name);
    if (!schema) {
      process.stderr.write(
        `phoenix schema: no schema named "${name}"; choose one of: ${[...schemas.keys()].join(', ')}\n`,
      );
      return EXIT.invalid;
    }
    process.stdout.write(JSON.stringify(schema, null, 2) + '\n');
    return EXIT.ok;
  }
  const dir = opts.out ?? 'schemas';
  mkdirSync(dir, { recursive: true });
  for (const [file, schema] of schemas) {
    writeFileSync(join(dir, file), JSON.stringify(schema, null, 2) + '\n');
    process.stdout.write(`wrote ${join(dir, file)}\n`);
  }
  return EXIT.ok;
}
