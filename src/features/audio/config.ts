/**
 * The audio settings schema lives in src/config/audio.ts (config sits below features in the
 * layers, and src/config/daemon.ts embeds it); this module re-exports it for older import paths.
 */
export * from '../../config/audio.js';
