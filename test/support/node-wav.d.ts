// Minimal types for node-wav, an untyped devDependency: the test oracle for the WAV reader
// (test/ingest/audio/wav.test.ts); nothing in src/ uses it.
declare module 'node-wav' {
  export interface DecodedWav {
    sampleRate: number;
    channelData: Float32Array[];
  }
  export interface EncodeOptions {
    sampleRate?: number;
    float?: boolean;
    bitDepth?: number;
  }
  /** Plain PCM (tag 1) and float (tag 3) only; refuses WAVE_FORMAT_EXTENSIBLE. */
  export function decode(buffer: ArrayBuffer | ArrayBufferView): DecodedWav;
  export function encode(channelData: Float32Array[], opts: EncodeOptions): Buffer;
  const _default: { decode: typeof decode; encode: typeof encode };
  export default _default;
}
