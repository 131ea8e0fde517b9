/** The options that say how a photo becomes an imported model's input (the file does not say). */
import { PRESETS, type PreprocessOptions } from '../graph/imported-model.ts';
import { optionalInt, UsageError } from './main.ts';

export const PREPROCESS_OPTIONS = {
  preprocess: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  resize: { type: 'string' },
  crop: { type: 'string' },
  labels: { type: 'string' },
} as const;

export const PREPROCESS_HELP = `
ONNX models (the file holds no preprocessing; what is used is printed):
  --preprocess NAME    imagenet (torchvision: shorter side 256/224 of the input, centre crop,
                       ImageNet mean and std), inception (x / 127.5 - 1 after a 0.875 crop),
                       tf (x / 127.5 - 1), unit (x / 255, the default), bytes (0..255)
  --mean R,G,B         subtract these from x / 255 (after the preset)
  --std R,G,B          then divide by these
  --resize N           the shorter side before the centre crop
  --crop N             the crop (the model's input size; needed where the file leaves it open)
  --labels FILE        class names, one a line (else the file's metadata, else class0, ...)`.trimStart();

const triple = (name: string, v: string | undefined): number[] | undefined => {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((t) => Number(t.trim()));
  if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x))) throw new UsageError(`--${name} ${v}: three numbers, R,G,B`);
  return parts;
};

/** The preprocessing options given; refused for wgcam's own models, which carry theirs. */
export function preprocessOptions(v: Record<string, unknown>, onnx: boolean): PreprocessOptions & { labels?: string } {
  const given = Object.keys(PREPROCESS_OPTIONS).filter((k) => v[k] !== undefined);
  if (!onnx && given.length) throw new UsageError(`--${given[0]} is for ONNX models; a wgcam model carries its own preprocessing and class names`);
  const preset = v.preprocess as string | undefined;
  if (preset !== undefined && !(PRESETS as readonly string[]).includes(preset)) throw new UsageError(`--preprocess ${preset}: use ${PRESETS.join(', ')}`);
  return {
    preset,
    mean: triple('mean', v.mean as string | undefined),
    std: triple('std', v.std as string | undefined),
    resize: optionalInt('resize', v.resize as string | undefined),
    crop: optionalInt('crop', v.crop as string | undefined),
    labels: v.labels as string | undefined,
  };
}
