/**
 * Text from files (class names, file names, metadata, decoder messages) can carry terminal
 * control sequences: ESC sequences retitle or clear the terminal, a newline forges an
 * output line. Every line wgcam prints passes through `printable`, which shows such
 * characters as visible escapes instead of sending them to the terminal.
 */

// C0 controls (tab and newline included: a line stays one line), DEL, C1 controls, and the
// Unicode line/paragraph separators and bidirectional overrides that reorder what is shown.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

export function printable(text: string): string {
  return text.replace(CONTROL, (c) => NAMED[c] ?? `\\u{${c.charCodeAt(0).toString(16)}}`);
}

/** Writes one line (made printable) to a stream. */
export function writeLine(stream: NodeJS.WritableStream, line: string): void {
  stream.write(`${printable(line)}\n`);
}
