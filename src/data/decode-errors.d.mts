export declare const EMPTY_FILE: string;
export declare const LIMIT_INPUT_PIXELS: number;
export declare function describeDecodeError(error: unknown): string;
