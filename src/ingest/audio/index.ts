export * from './wav.js';
export * from './resample.js';
export * from './features.js';
export * from './loudness.js';
