/**
 * An imported classifier and its photos read from disk (imported-model.ts has what a browser
 * can run too): the ONNX file within the memory limit, a --labels file, photos decoded and
 * prepared by sharp as the model's preprocessing says.
 */
import { readFileSync, statSync } from 'node:fs';
import sharp from 'sharp';
import { describeDecodeError, EMPTY_FILE, LIMIT_INPUT_PIXELS } from '../data/decode-errors.mjs';
import { fmtBytes } from '../gpu/pool.ts';
import { whyNotAFile } from '../io/input-path.ts';
import { MemoryLimitError, type MemoryLimit } from '../nn/memory.ts';
import { GraphError, type Graph } from './graph.ts';
import { cropOf, importedModelOf, inputFromPixels, type ImportedModel, type PreprocessOptions } from './imported-model.ts';
import { decodeOnnx, OnnxError } from './onnx-import.ts';

/** Reads and checks an ONNX file (a regular file; its bytes are read once). */
export function loadOnnxFile(path: string): Graph {
  const why = whyNotAFile(path);
  if (why) throw new OnnxError(`${path}: ${why}`);
  const size = statSync(path).size;
  if (size === 0) throw new OnnxError(`${path}: empty file`);
  return decodeOnnx(readFileSync(path), path);
}

/** Bytes a model file's weights take once read: the file, the decoded weights, the folded ones. */
const LOAD_FACTOR = 3;

export function loadImportedModel(path: string, o: PreprocessOptions & { labels?: string; limit: MemoryLimit }): ImportedModel {
  return readImportedModel(path, o).model;
}

/** loadImportedModel, and the file's bytes (read once) for those that write a model from it. */
export function readImportedModel(path: string, o: PreprocessOptions & { labels?: string; limit: MemoryLimit }): { model: ImportedModel; bytes: Uint8Array } {
  const why = whyNotAFile(path);
  if (why) throw new GraphError(`${path}: ${why}`);
  const size = statSync(path).size;
  if (LOAD_FACTOR * size > o.limit.bytes) {
    throw new MemoryLimitError(`${path}: reading a ${fmtBytes(size)} model needs about ${fmtBytes(LOAD_FACTOR * size)}, over the memory limit of ${fmtBytes(o.limit.bytes)} (${o.limit.source}); raise it with --max-memory`);
  }
  const labels = o.labels === undefined ? undefined : { names: readLabels(o.labels), source: `--labels ${o.labels}` };
  if (size === 0) throw new OnnxError(`${path}: empty file`);
  const bytes = readFileSync(path);
  return { model: importedModelOf(decodeOnnx(bytes, path), path, { ...o, labels }), bytes };
}

/** Class names from a file, one a line (trailing empty lines dropped). */
function readLabels(path: string): string[] {
  const why = whyNotAFile(path);
  if (why) throw new GraphError(`--labels ${path}: ${why}`);
  if (statSync(path).size > 16 * 2 ** 20) throw new GraphError(`--labels ${path}: larger than 16 MiB; not a list of class names`);
  const names = readFileSync(path, 'utf8').split(/\r?\n/).map((l) => l.trim());
  while (names.length && names.at(-1) === '') names.pop();
  return names;
}

/** A photo as the model's input (its layout, float32), decoded and prepared as `pre` says. */
export async function importedInput(path: string, model: ImportedModel): Promise<Float32Array> {
  const why = whyNotAFile(path);
  if (why) throw new GraphError(`${path}: ${why}`);
  if (statSync(path).size === 0) throw new GraphError(`${path}: ${EMPTY_FILE}`);
  const { pre } = model;
  const [ch, cw] = pre.crop;
  try {
    let img = sharp(path, { limitInputPixels: LIMIT_INPUT_PIXELS, failOn: 'truncated', animated: false }).rotate().toColourspace('srgb').removeAlpha();
    if (pre.resize === null) img = img.resize(cw, ch, { fit: 'fill' });
    else {
      const meta = await sharp(path, { limitInputPixels: LIMIT_INPUT_PIXELS }).metadata();
      // EXIF orientations 5-8 turn the photo a quarter: its sides swap.
      const turned = (meta.orientation ?? 1) >= 5;
      const [width, height] = turned ? [meta.height ?? 1, meta.width ?? 1] : [meta.width ?? 1, meta.height ?? 1];
      const c = cropOf(pre, width, height);
      img = sharp(await img.resize(c.resized[0], c.resized[1], { fit: 'fill' }).raw().toBuffer(), { raw: { width: c.resized[0], height: c.resized[1], channels: 3 } }).extract({ left: c.left, top: c.top, width: cw, height: ch });
    }
    if (model.channels === 1) img = img.toColourspace('b-w');
    return inputFromPixels(new Uint8Array(await img.raw().toBuffer()), model);
  } catch (e) {
    if (e instanceof GraphError) throw e;
    throw new GraphError(`${path}: ${describeDecodeError(e)}`);
  }
}
