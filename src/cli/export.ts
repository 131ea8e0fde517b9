/** wgcam export MODEL OUT.onnx: a wgcam model as a standard ONNX file (src/export/onnx.ts), or an ONNX classifier with its CAM outputs added (src/export/onnx-imported.ts). */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isOnnxPath } from '../eval/open-classifier.ts';
import { CLASS_MAPS, FEATURES, reexportOnnx } from '../export/onnx-imported.ts';
import { encodeOnnx } from '../export/onnx.ts';
import { readImportedModel } from '../graph/imported-files.ts';
import { describePreprocessing } from '../graph/imported-model.ts';
import { defaultMemoryLimit } from '../nn/machine-memory.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { isInside, refuseToReplace, whyNotAFolder } from '../io/input-path.ts';
import { loadModelFile } from '../io/model-file.ts';
import { printable } from '../util/terminal.ts';
import { VERSION } from '../version.ts';
import { parse, run, UsageError } from './main.ts';
import { PREPROCESS_HELP, PREPROCESS_OPTIONS, preprocessOptions } from './preprocess-options.ts';

const HELP = `
Usage: wgcam export MODEL OUT.onnx [options]      (or: npm run export -- ...)

Writes the model as a standard ONNX file (opset 13): input 'image' [N, C, H, W] float32, the
photo resized to the model's size ignoring the aspect ratio and divided by 255; outputs
'probabilities', 'logits', 'features' (the last conv layer after its ReLU) and 'class_maps'
(every class's activation map, from which any runtime draws the CAM). The preprocessing, the
class names and the maps' alignment with the photo are in its metadata_props (docs/onnx.md).

MODEL may also be an ONNX classifier: the file is written again as it came, with two outputs
added, '${FEATURES}' (the layer wgcam explains by default) and, where global average
pooling and one dense layer follow it, '${CLASS_MAPS}' (every class's map), and the class
names (--labels) and preprocessing (--preprocess ...) in its metadata, which wgcam reads back.

Options:
  --overwrite          replace OUT.onnx if it exists
  -h, --help           this help

${PREPROCESS_HELP}
`;

run(async () => {
  const { values: v, positionals } = parse(process.argv.slice(2), { overwrite: { type: 'boolean' }, ...PREPROCESS_OPTIONS }, HELP);
  const [modelPath, outPath, ...extra] = positionals;
  if (!modelPath || !outPath || extra.length) throw new UsageError('usage: wgcam export MODEL OUT.onnx (see --help)');
  const onnx = isOnnxPath(modelPath);
  const pre = preprocessOptions(v, onnx);
  refuseToReplace([outPath]);
  const model = onnx ? null : loadModelFile(modelPath);
  const imported = onnx ? readImportedModel(modelPath, { ...pre, limit: defaultMemoryLimit() }) : null;
  const why = whyNotAFolder(dirname(resolve(outPath)));
  if (why) throw new Error(`${outPath}: cannot write into ${dirname(outPath)} (${why})`);
  if (isInside(outPath, modelPath)) throw new UsageError(`${outPath} is the model file itself; name another file`);
  if (existsSync(outPath) && !v.overwrite) throw new Error(`${outPath} already exists; pass --overwrite to replace it`);
  if (imported) {
    const out = reexportOnnx(imported.bytes, imported.model);
    writeFileAtomic(outPath, out.bytes);
    const added = out.classMaps ? `'${FEATURES}' and '${CLASS_MAPS}'` : `'${FEATURES}' (no '${CLASS_MAPS}': no global average pooling and one dense layer follow it)`;
    process.stdout.write(printable(`${outPath}: ${modelPath} with ${added} from '${out.layer}', ${imported.model.classes.length} classes, preprocessing ${describePreprocessing(imported.model.pre)}`) + '\n');
    return;
  }
  const bytes = encodeOnnx(model!, VERSION);
  writeFileAtomic(outPath, bytes);
  const { arch, classes } = model!.meta;
  process.stdout.write(printable(`${outPath}: ONNX opset 13, ${arch.blocks}, input image [N, ${arch.inputChannels}, ${arch.height}, ${arch.width}], ${classes.length} classes (${classes.slice(0, 5).join(', ')}${classes.length > 5 ? ', ...' : ''}), ${(bytes.length / 1024).toFixed(0)} KiB`) + '\n');
});
