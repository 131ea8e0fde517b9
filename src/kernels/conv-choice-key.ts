/**
 * How a per-layer kernel choice is named (see nn/conv-choice.ts); apart so that the backend
 * and the model-file checks can read choices without the measuring code.
 */
import { conv2dForward, conv2dGradInput, conv2dReluMaxPool, type ConvShape } from './conv2d.ts';
import type { AnyKernel } from './kernel.ts';

/** The kernels whose variant is chosen per layer. */
export const CHOOSABLE_KERNELS: readonly AnyKernel[] = [conv2dForward, conv2dReluMaxPool, conv2dGradInput];

export interface ConvChoice {
  kernel: string;
  /** convShapeKey of the layer. */
  shape: string;
  variant: string;
}

/** The layer a choice is for; the batch is left out (an epoch's last batch may be smaller). */
export const convShapeKey = (p: ConvShape & { pad?: number }): string => `${p.Ci}->${p.Co} ${p.H}x${p.W}${p.pad ? ` pad ${p.pad}` : ''}`;
