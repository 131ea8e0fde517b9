/** wgcam export model.bin model.onnx: the model as a standard ONNX file (see src/export/onnx.ts). */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { encodeOnnx } from '../export/onnx.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { isInside, refuseToReplace, whyNotAFolder } from '../io/input-path.ts';
import { loadModelFile } from '../io/model-file.ts';
import { printable } from '../util/terminal.ts';
import { VERSION } from '../version.ts';
import { parse, run, UsageError } from './main.ts';

const HELP = `
Usage: wgcam export model.bin model.onnx [options]      (or: npm run export -- ...)

Writes the model as a standard ONNX file (opset 13): input 'image' [N, C, H, W] float32, the
photo resized to the model's size ignoring the aspect ratio and divided by 255; outputs
'probabilities', 'logits', 'features' (the last conv layer after its ReLU) and 'class_maps'
(every class's activation map, from which any runtime draws the CAM). The preprocessing, the
class names and the maps' alignment with the photo are in its metadata_props (docs/onnx.md).

Options:
  --overwrite          replace model.onnx if it exists
  -h, --help           this help
`;

run(async () => {
  const { values: v, positionals } = parse(process.argv.slice(2), { overwrite: { type: 'boolean' } }, HELP);
  const [modelPath, outPath, ...extra] = positionals;
  if (!modelPath || !outPath || extra.length) throw new UsageError('usage: wgcam export model.bin model.onnx (see --help)');
  refuseToReplace([outPath]);
  const model = loadModelFile(modelPath);
  const why = whyNotAFolder(dirname(resolve(outPath)));
  if (why) throw new Error(`${outPath}: cannot write into ${dirname(outPath)} (${why})`);
  if (isInside(outPath, modelPath)) throw new UsageError(`${outPath} is the model file itself; name another file`);
  if (existsSync(outPath) && !v.overwrite) throw new Error(`${outPath} already exists; pass --overwrite to replace it`);
  const bytes = encodeOnnx(model, VERSION);
  writeFileAtomic(outPath, bytes);
  const { arch, classes } = model.meta;
  process.stdout.write(printable(`${outPath}: ONNX opset 13, ${arch.blocks}, input image [N, ${arch.inputChannels}, ${arch.height}, ${arch.width}], ${classes.length} classes (${classes.slice(0, 5).join(', ')}${classes.length > 5 ? ', ...' : ''}), ${(bytes.length / 1024).toFixed(0)} KiB`) + '\n');
});
