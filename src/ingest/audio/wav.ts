/**
 * WAV (RIFF/WAVE) reading: our own header parser and sample decoder.
 *
 * Supported: integer PCM with 8 (unsigned), 16, 24 and 32 bits, IEEE float with 32 or 64
 * bits, any channel count, in the plain form (format tag 1 / 3) and in the
 * WAVE_FORMAT_EXTENSIBLE form (tag 0xFFFE, sub-format GUID for PCM or float). Chunks other
 * than `fmt ` and `data` (LIST, fact, cue, bext, ...) are skipped, honouring RIFF's pad
 * byte after odd-sized chunks.
 *
 * Sample scaling (same convention as libsndfile/soundfile and so librosa): an N-bit integer
 * x maps to x / 2^(N-1), so values lie in [-1, 1); 8-bit unsigned maps to (x - 128) / 128.
 * Float samples are returned as stored. The valid-bits field of the extensible header is
 * ignored for scaling: samples are left-justified in their container, so dividing by the
 * container's full scale is correct.
 *
 * Channel selection: `channel` is a 0-based channel index or 'mix' (mean over all
 * channels). The default is 'mix', like librosa.load(mono=True); a mono file gives its
 * only channel either way. MIMII's mono clips are microphone 1, i.e. channel 0 of the
 * 8-channel originals, so pass `channel: 0` to reproduce them from the 8-channel files.
 *
 * Corrupt input (bad RIFF/WAVE magic, missing or malformed fmt chunk, unsupported format,
 * no data chunk, data chunk shorter than declared) raises InputError naming the file.
 * Header limits, checked before anything is allocated from them: at most `maxChannels`
 * (default 256) channels and a fmt chunk of at most 64 KiB (InputLimitError 'wav_header');
 * buffers are sized by the bytes present, never by sizes the header claims alone.
 */
import { open, readFile, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { InputError, InputLimitError } from '../../util/errors.js';
import { silentLogger, type Logger } from '../../util/log.js';

export type WavSampleFormat = 'pcm' | 'float';

export interface WavInfo {
  sampleRate: number;
  channels: number;
  /** Container bits per sample (8, 16, 24, 32 or 64). */
  bitsPerSample: number;
  /** Valid bits from the extensible header, else equal to bitsPerSample. */
  validBitsPerSample: number;
  format: WavSampleFormat;
  /** Format tag of the fmt chunk: 1 (PCM), 3 (IEEE float) or 0xFFFE (extensible). */
  formatTag: number;
  /** Speaker position mask of an extensible header (0 when absent). */
  channelMask: number;
  /** Bytes per frame (all channels of one sample instant). */
  blockAlign: number;
  /** Number of whole frames in the data chunk. */
  frames: number;
  durationSeconds: number;
  /** Byte offset of the first sample in the file, and the data chunk's declared size. */
  dataOffset: number;
  dataBytes: number;
}

export type ChannelSelection = number | 'mix';

export interface ReadWavOptions {
  /** 0-based channel index, or 'mix' for the mean over channels (default 'mix'). */
  channel?: ChannelSelection;
  logger?: Logger;
  /** Files declaring more channels are refused (default MAX_WAV_CHANNELS). */
  maxChannels?: number;
}

export interface ReadWholeWavOptions extends ReadWavOptions {
  /** readWav refuses files larger than this (default MAX_WHOLE_FILE_BYTES, 512 MiB). */
  maxBytes?: number;
}

export interface ReadWavChunksOptions extends ReadWavOptions {
  /** Frames per yielded chunk (default 16384); the last chunk may be shorter. */
  chunkFrames?: number;
}

export interface DecodedWav {
  sampleRate: number;
  samples: Float32Array;
  info: WavInfo;
}

/** Files above this size are refused by readWav; use readWavChunks for them. */
export const MAX_WHOLE_FILE_BYTES = 512 * 1024 * 1024;
/** Default most channels a WAV may declare (the format allows 65535; 256 covers arrays). */
export const MAX_WAV_CHANNELS = 256;
/** Largest fmt chunk read (real ones are 16 to 40 bytes); a bigger one is refused before it is read. */
export const MAX_FMT_CHUNK_BYTES = 64 * 1024;

const GUID_TAIL = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]);
const TAG_PCM = 0x0001;
const TAG_FLOAT = 0x0003;
const TAG_EXTENSIBLE = 0xfffe;

interface FmtFields {
  formatTag: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
  validBitsPerSample: number;
  channelMask: number;
  format: WavSampleFormat;
}

function parseFmt(body: Buffer, file: string, maxChannels: number): FmtFields {
  const err = (reason: string) => new InputError(reason, { file });
  if (body.length < 16) throw err(`fmt chunk too short (${body.length} bytes)`);
  const formatTag = body.readUInt16LE(0);
  const channels = body.readUInt16LE(2);
  const sampleRate = body.readUInt32LE(4);
  const blockAlign = body.readUInt16LE(12);
  const bitsPerSample = body.readUInt16LE(14);
  let validBitsPerSample = bitsPerSample;
  let channelMask = 0;
  let code = formatTag;
  if (formatTag === TAG_EXTENSIBLE) {
    if (body.length < 40) throw err(`WAVE_FORMAT_EXTENSIBLE fmt chunk too short (${body.length} bytes, need 40)`);
    const cbSize = body.readUInt16LE(16);
    if (cbSize < 22) throw err(`WAVE_FORMAT_EXTENSIBLE cbSize ${cbSize} < 22`);
    validBitsPerSample = body.readUInt16LE(18) || bitsPerSample;
    channelMask = body.readUInt32LE(20);
    const guid = body.subarray(24, 40);
    if (!guid.subarray(2).equals(GUID_TAIL)) {
      throw err(`unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID ${guid.toString('hex')}`);
    }
    code = guid.readUInt16LE(0);
  }
  let format: WavSampleFormat;
  if (code === TAG_PCM) {
    if (![8, 16, 24, 32].includes(bitsPerSample)) throw err(`unsupported PCM bit depth ${bitsPerSample}`);
    format = 'pcm';
  } else if (code === TAG_FLOAT) {
    if (bitsPerSample !== 32 && bitsPerSample !== 64) throw err(`unsupported float bit depth ${bitsPerSample}`);
    format = 'float';
  } else {
    throw err(`unsupported WAV format tag 0x${code.toString(16).padStart(4, '0')} (only PCM and IEEE float)`);
  }
  if (channels < 1) throw err('fmt chunk declares 0 channels');
  if (channels > maxChannels) throw new InputLimitError('wav_header', `fmt chunk declares ${channels} channels, more than the ${maxChannels} allowed (maxChannels)`, { file });
  if (sampleRate < 1) throw err('fmt chunk declares sample rate 0');
  if (validBitsPerSample > bitsPerSample) {
    throw err(`valid bits ${validBitsPerSample} exceed container bits ${bitsPerSample}`);
  }
  const expectAlign = channels * (bitsPerSample / 8);
  if (blockAlign !== expectAlign) {
    throw err(`block align ${blockAlign} does not match ${channels} channels x ${bitsPerSample} bits`);
  }
  return { formatTag, channels, sampleRate, blockAlign, bitsPerSample, validBitsPerSample, channelMask, format };
}

/** Reads `length` bytes at `position`; returns fewer only at end of file. */
async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/**
 * Walks the RIFF chunks through a byte source until the data chunk; reads only chunk
 * headers and the fmt body, so it works for files of any size.
 */
async function parseHeader(
  readBytes: (pos: number, len: number) => Promise<Buffer>,
  fileSize: number,
  file: string,
  logger: Logger,
  maxChannels = MAX_WAV_CHANNELS,
): Promise<WavInfo> {
  const err = (reason: string) => new InputError(reason, { file });
  const riff = await readBytes(0, 12);
  if (riff.length < 12) throw err(`not a WAV file: only ${fileSize} bytes`);
  const magic = riff.toString('latin1', 0, 4);
  if (magic !== 'RIFF') {
    throw err(magic === 'RF64' || magic === 'RIFX' ? `unsupported ${magic} container` : 'not a WAV file: missing RIFF magic');
  }
  if (riff.toString('latin1', 8, 12) !== 'WAVE') throw err('not a WAV file: RIFF form type is not WAVE');
  let pos = 12;
  let fmt: FmtFields | undefined;
  while (true) {
    const head = await readBytes(pos, 8);
    if (head.length < 8) {
      throw err(fmt ? 'no data chunk (file ends before it)' : 'no fmt chunk (file ends before it)');
    }
    const id = head.toString('latin1', 0, 4);
    const size = head.readUInt32LE(4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (body + size > fileSize) throw err('fmt chunk is truncated');
      if (size > MAX_FMT_CHUNK_BYTES) throw new InputLimitError('wav_header', `fmt chunk of ${size} bytes, more than the ${MAX_FMT_CHUNK_BYTES} a format header can need`, { file });
      fmt = parseFmt(await readBytes(body, size), file, maxChannels);
    } else if (id === 'data') {
      if (!fmt) throw err('data chunk comes before the fmt chunk');
      const available = fileSize - body;
      if (size > available) {
        throw err(`data chunk shorter than declared: ${available} of ${size} bytes present (truncated file)`);
      }
      const frames = Math.floor(size / fmt.blockAlign);
      if (frames * fmt.blockAlign !== size) {
        logger.warn('wav data chunk ends in a partial frame; ignoring it', { file, dataBytes: size, blockAlign: fmt.blockAlign });
      }
      return {
        sampleRate: fmt.sampleRate,
        channels: fmt.channels,
        bitsPerSample: fmt.bitsPerSample,
        validBitsPerSample: fmt.validBitsPerSample,
        format: fmt.format,
        formatTag: fmt.formatTag,
        channelMask: fmt.channelMask,
        blockAlign: fmt.blockAlign,
        frames,
        durationSeconds: frames / fmt.sampleRate,
        dataOffset: body,
        dataBytes: size,
      };
    } else {
      if (!/^[\x20-\x7e]{4}$/.test(id)) throw err(`corrupt chunk header at byte ${pos}`);
      logger.debug('wav: skipping chunk', { file, chunk: id, bytes: size });
    }
    pos = body + size + (size & 1);
  }
}

/** Reads the header of a WAV file (fmt and the data chunk's position) without reading samples. */
export async function readWavInfo(path: string, opts: { logger?: Logger; maxChannels?: number } = {}): Promise<WavInfo> {
  const fh = await openFile(path);
  try {
    const { size } = await fh.stat();
    return await parseHeader((p, n) => readAt(fh, p, n), size, path, opts.logger ?? silentLogger, opts.maxChannels);
  } finally {
    await fh.close();
  }
}

async function openFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    throw new InputError(`cannot open WAV file: ${(e as Error).message}`, { file: path }, { cause: e });
  }
}

function checkChannel(channel: ChannelSelection, info: WavInfo, file: string): void {
  if (channel === 'mix') return;
  if (!Number.isInteger(channel) || channel < 0 || channel >= info.channels) {
    throw new InputError(`channel ${channel} requested but the file has ${info.channels} channel(s) (0-based)`, { file });
  }
}

/**
 * Decodes `frames` frames starting at byte `offset` of `bytes` into `out[outOffset...]`,
 * taking one channel or the channel mean.
 */
export function decodeFrames(
  bytes: Uint8Array,
  offset: number,
  frames: number,
  info: Pick<WavInfo, 'channels' | 'bitsPerSample' | 'format' | 'blockAlign'>,
  channel: ChannelSelection,
  out: Float32Array,
  outOffset = 0,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { channels, bitsPerSample: bits, format, blockAlign } = info;
  const bps = bits / 8;
  const first = channel === 'mix' ? 0 : channel;
  const count = channel === 'mix' ? channels : 1;
  const inv = 1 / count;
  for (let f = 0; f < frames; f++) {
    let p = offset + f * blockAlign + first * bps;
    let acc = 0;
    for (let c = 0; c < count; c++, p += bps) {
      let v: number;
      if (format === 'float') {
        v = bits === 32 ? view.getFloat32(p, true) : view.getFloat64(p, true);
      } else if (bits === 16) {
        v = view.getInt16(p, true) / 32768;
      } else if (bits === 24) {
        const u = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16);
        v = ((u << 8) >> 8) / 8388608;
      } else if (bits === 32) {
        v = view.getInt32(p, true) / 2147483648;
      } else {
        v = (bytes[p] - 128) / 128;
      }
      acc += v;
    }
    out[outOffset + f] = count === 1 ? acc : acc * inv;
  }
}

/**
 * Decodes a whole WAV held in memory (e.g. a message payload). `file` only labels errors.
 */
export async function decodeWav(
  bytes: Buffer,
  opts: ReadWavOptions & { file?: string } = {},
): Promise<DecodedWav> {
  const file = opts.file ?? '<buffer>';
  const info = await parseHeader(
    async (p, n) => bytes.subarray(p, Math.min(bytes.length, p + n)),
    bytes.length,
    file,
    opts.logger ?? silentLogger,
    opts.maxChannels,
  );
  const channel = opts.channel ?? 'mix';
  checkChannel(channel, info, file);
  const samples = new Float32Array(info.frames);
  decodeFrames(bytes, info.dataOffset, info.frames, info, channel, samples);
  return { sampleRate: info.sampleRate, samples, info };
}

/** Reads a whole (small) WAV file into memory and decodes one channel or the mix. */
export async function readWav(path: string, opts: ReadWholeWavOptions = {}): Promise<DecodedWav> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    throw new InputError(`cannot open WAV file: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  const maxBytes = opts.maxBytes ?? MAX_WHOLE_FILE_BYTES;
  if (size > maxBytes) {
    throw new InputError(`WAV file is ${size} bytes; use readWavChunks for files over ${maxBytes}`, {
      file: path,
    });
  }
  const bytes = await readFile(path);
  return decodeWav(bytes, { ...opts, file: path });
}

/**
 * Streams a WAV file as Float32Array chunks of `chunkFrames` frames (the last may be
 * shorter), reading the data chunk incrementally through one file handle: memory stays at
 * one chunk of raw bytes plus the chunk yielded, whatever the file's size. Each yielded
 * array is new and owned by the caller. Header problems are raised before the first chunk;
 * a file that shrinks while being read raises InputError.
 */
export async function* readWavChunks(
  path: string,
  opts: ReadWavChunksOptions = {},
): AsyncGenerator<Float32Array, void, undefined> {
  const chunkFrames = opts.chunkFrames ?? 16384;
  if (!Number.isInteger(chunkFrames) || chunkFrames < 1) {
    throw new RangeError(`chunkFrames must be a positive integer, got ${chunkFrames}`);
  }
  const channel = opts.channel ?? 'mix';
  const fh = await openFile(path);
  try {
    const { size } = await fh.stat();
    const info = await parseHeader((p, n) => readAt(fh, p, n), size, path, opts.logger ?? silentLogger, opts.maxChannels);
    checkChannel(channel, info, path);
    // Sized by the frames present, not by chunkFrames alone: a header claiming 8191 channels
    // of float64 would otherwise cost chunkFrames x 64 KiB (1 GiB by default) for a tiny file.
    const raw = Buffer.alloc(Math.min(chunkFrames, info.frames) * info.blockAlign);
    let frame = 0;
    while (frame < info.frames) {
      const n = Math.min(chunkFrames, info.frames - frame);
      const want = n * info.blockAlign;
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(raw, got, want - got, info.dataOffset + frame * info.blockAlign + got);
        if (bytesRead === 0) {
          throw new InputError(`file ended inside the data chunk at frame ${frame + Math.floor(got / info.blockAlign)}`, {
            file: path,
          });
        }
        got += bytesRead;
      }
      const out = new Float32Array(n);
      decodeFrames(raw, 0, n, info, channel, out);
      frame += n;
      yield out;
    }
  } finally {
    await fh.close();
  }
}
