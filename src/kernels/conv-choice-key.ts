/** How a per-layer kernel choice is named (see nn/conv-choice.ts); apart so the backend can read choices without the model code. */
import type { ConvShape } from './conv2d.ts';

export interface ConvChoice {
  kernel: string;
  /** convShapeKey of the layer. */
  shape: string;
  variant: string;
}

/** The layer a choice is for; the batch is left out (an epoch's last batch may be smaller). */
export const convShapeKey = (p: ConvShape): string => `${p.Ci}->${p.Co} ${p.H}x${p.W}`;
