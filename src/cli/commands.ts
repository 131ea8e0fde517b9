/**
 * `wgcam SUBCOMMAND [options]`: one command for everything, usable as `npx wgcam ...` from
 * any folder and behind the `npm run ...` scripts. Each subcommand is its own module, loaded
 * only when asked for, so `--help` answers at once.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isOwnKey } from '../util/arrays.ts';
import { printable } from '../util/terminal.ts';
import { closest } from './suggest.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const COMMANDS: Record<string, { module: string; summary: string }> = {
  train: { module: 'src/cli/train.ts', summary: 'train a CAM-ready network on a photo folder or IDX files' },
  cam: { module: 'src/cli/cam.ts', summary: 'explain images: class activation maps, overlays, boxes, a gallery' },
  eval: { module: 'src/cli/eval.ts', summary: 'accuracy, per-class precision/recall/F1 and the confusion matrix on labelled data' },
  predict: { module: 'src/cli/predict.ts', summary: 'classes and probabilities of images (text, --json or --csv), no CAM files' },
  export: { module: 'src/cli/export.ts', summary: 'the model as an ONNX file (probabilities, logits and the CAM features)' },
  web: { module: 'src/cli/web.ts', summary: 'a web page that explains photos in the browser, on its WebGPU (or CPU)' },
  demo: { module: 'src/cli/demo.ts', summary: 'the whole product on built-in sample photos (about a minute)' },
  gallery: { module: 'src/cli/gallery.ts', summary: "the gallery (index.html) of a cam output folder from its NAME.json files" },
  info: { module: 'src/cli/info.ts', summary: 'what a model computes: nodes, shapes, receptive fields, CAM-able layers, FLOPs' },
  bench: { module: 'bench/run.ts', summary: 'time every kernel variant and the whole model on this adapter' },
};

const HELP = `Usage: wgcam COMMAND [options]        (in this repository also: npm run COMMAND -- [options])

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`)
  .join('\n')}

'wgcam COMMAND --help' describes each command's options. --verbose (with any command) also
shows the notices Dawn, the WebGPU library, prints when it opens the adapter.
`;

// npm runs a package's scripts from the package root; the user's relative paths belong to the
// folder npm was started in (INIT_CWD). Only our own scripts are moved there.
if (process.env.npm_package_name === 'wgcam' && process.env.INIT_CWD && resolve(process.cwd()) === root) process.chdir(process.env.INIT_CWD);

// --verbose, anywhere: Dawn's own notices are shown too (see gpu/dawn-notices.ts).
const args = process.argv.slice(2).filter((a) => a !== '--verbose');
if (args.length < process.argv.length - 2) process.env.WGCAM_VERBOSE = '1';
const [command, ...rest] = args;
if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write(HELP);
  process.exit(command === undefined ? 2 : 0);
}
const chosen = isOwnKey(COMMANDS, command) ? COMMANDS[command] : undefined;
if (!chosen) {
  const guess = closest(command, Object.keys(COMMANDS));
  process.stderr.write(`wgcam: unknown command '${printable(command)}'${guess ? `; did you mean '${guess}'?` : ''} (see wgcam --help)\n`);
  process.exit(2);
}
// The subcommand modules read process.argv.slice(2) as their own options.
process.argv = [process.argv[0], join(root, chosen.module), ...rest];
await import(join(root, chosen.module));
