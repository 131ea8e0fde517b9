/** wgcam export model.bin model.onnx: the model as a standard ONNX file (see src/export/onnx.ts). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { encodeOnnx } from '../export/onnx.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { isInside, whyNotAFolder } from '../io/input-path.ts';
import { loadModelFile } from '../io/model-file.ts';
import { printable } from '../util/terminal.ts';
import { parse, run, UsageError } from './main.ts';

const HELP = `
Usage: wgcam export model.bin model.onnx [options]      (or: npm run export -- ...)

Writes the model as a standard ONNX file (opset 13): input 'image' [N, C, H, W] float32, the
photo resized to the model's size ignoring the aspect ratio and divided by 255; outputs
'probabilities', 'logits' and 'features' (the last conv layer after its ReLU, from which any
runtime computes the CAM). The preprocessing and the class names are in its metadata_props.

Options:
  --overwrite          replace model.onnx if it exists
  -h, --help           this help
`;

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

run(async () => {
  const { values: v, positionals } = parse(process.argv.slice(2), { overwrite: { type: 'boolean' } }, HELP);
  const [modelPath, outPath, ...extra] = positionals;
  if (!modelPath || !outPath || extra.length) throw new UsageError('usage: wgcam export model.bin model.onnx (see --help)');
  const model = loadModelFile(modelPath);
  const why = whyNotAFolder(dirname(resolve(outPath)));
  if (why) throw new Error(`${outPath}: cannot write into ${dirname(outPath)} (${why})`);
  if (isInside(outPath, modelPath)) throw new UsageError(`${outPath} is the model file itself; name another file`);
  if (existsSync(outPath) && !v.overwrite) throw new Error(`${outPath} already exists; pass --overwrite to replace it`);
  const bytes = encodeOnnx(model, version);
  writeFileAtomic(outPath, bytes);
  const { arch, classes } = model.meta;
  process.stdout.write(printable(`${outPath}: ONNX opset 13, ${arch.blocks}, input image [N, ${arch.inputChannels}, ${arch.height}, ${arch.width}], ${classes.length} classes (${classes.slice(0, 5).join(', ')}${classes.length > 5 ? ', ...' : ''}), ${(bytes.length / 1024).toFixed(0)} KiB`) + '\n');
});
