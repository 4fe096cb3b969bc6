/**
 * Whether an ONNX Runtime execution provider can work here, decided before asking ORT:
 * a missing provider library makes ORT print a native error dump (red, on stderr) that
 * tells a user nothing about the fix, and `auto` would print one per GPU provider on
 * every plain CPU machine.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** onnxruntime-node's native folder (bin/napi-v6/<platform>/<arch>), or null when not found. */
export function ortNativeDir(): string | null {
  try {
    const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
    let dir = path.dirname(entry);
    while (dir !== path.dirname(dir) && !existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
    const bin = path.join(dir, 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

function hasLibrary(dir: string, prefix: string): boolean {
  try {
    return readdirSync(dir).some((f) => f.startsWith(prefix));
  } catch {
    return false;
  }
}

const VULKAN_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/usr/local/lib'];

/** Why `provider` cannot run here, or null when it may (ORT has the last word). */
export function providerUnavailable(provider: 'cuda' | 'tensorrt' | 'webgpu'): string | null {
  if (provider === 'webgpu') {
    if (process.platform !== 'linux') return null;
    const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...VULKAN_DIRS];
    return dirs.some((d) => existsSync(path.join(d, 'libvulkan.so.1')))
      ? null
      : 'WebGPU on Linux needs a Vulkan loader (libvulkan.so.1, Debian package libvulkan1) and a GPU driver with Vulkan support; none was found';
  }
  const bin = ortNativeDir();
  if (bin === null || process.platform !== 'linux') return null;
  const lib = provider === 'cuda' ? 'libonnxruntime_providers_cuda' : 'libonnxruntime_providers_tensorrt';
  if (hasLibrary(bin, lib)) return null;
  return (
    `this onnxruntime-node install has no ${provider === 'cuda' ? 'CUDA' : 'TensorRT'} provider (${lib}.so is not in ${bin}). ` +
    'Install the GPU build: ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci (or ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node); ' +
    `it needs CUDA 12 and cuDNN 9${provider === 'tensorrt' ? ' and TensorRT 10' : ''}. Or use --provider cpu`
  );
}
