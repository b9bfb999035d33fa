import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { writeFileAtomic } from '../../io/files.js';
import { BUNDLE_EXTENSION, packVectorFile, readVectorBundleFile, unpackVectorBundle } from '../../steering/vector-bundle.js';
import { jsonOption, runAction } from '../common.js';

/** `vector pack` / `vector unpack`: a vector and the files made with it, as one file (src/steering/vector-bundle.ts). */

export function packCommand(): Command {
  return new Command('pack')
    .description(`one file holding a vector and, when beside it, its data, lexicon and report (NAME.data.json, NAME.lexicon.json, NAME.report.json/.html); unpack with \`vector unpack\``)
    .argument('<file>', 'vector file (NAME.safetensors)')
    .requiredOption('-o, --out <file>', `bundle to write (e.g. NAME${BUNDLE_EXTENSION})`)
    .option('--name <name>', "the vector's name in the bundle (default: the file's name without .safetensors)")
    .addOption(jsonOption)
    .action(
      runAction(async (file: string, flags: { out: string; name?: string; json?: boolean }) => {
        const { bundle, members } = packVectorFile(file, flags.name);
        fs.mkdirSync(path.dirname(path.resolve(flags.out)), { recursive: true });
        writeFileAtomic(flags.out, (w) => w(bundle));
        if (flags.json) process.stdout.write(`${JSON.stringify({ out: flags.out, bytes: bundle.byteLength, members })}\n`);
        else process.stdout.write(`wrote ${flags.out} (${bundle.byteLength} bytes): ${members.join(', ')}\n`);
      }),
    );
}

export function unpackCommand(): Command {
  return new Command('unpack')
    .description('write the files of a vector bundle (made by `vector pack` or GET /v1/vectors/NAME/bundle) after checking every SHA-256')
    .argument('<bundle>', 'bundle file')
    .option('-o, --out <dir>', 'folder to write into', '.')
    .option('--force', 'replace files that exist (default: refuse, and write nothing)')
    .addOption(jsonOption)
    .action(
      runAction(async (file: string, flags: { out: string; force?: boolean; json?: boolean }) => {
        const bundle = readVectorBundleFile(file);
        const written = unpackVectorBundle(bundle, flags.out, { force: flags.force });
        if (flags.json) process.stdout.write(`${JSON.stringify({ name: bundle.name, files: written })}\n`);
        else process.stdout.write(`unpacked ${bundle.name}: ${written.join(', ')}\n`);
      }),
    );
}
