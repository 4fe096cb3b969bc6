/** vitest setup file: what a test file made with tempDir() is removed after it (no /tmp/nf-* left behind). */
import { afterAll } from 'vitest';
import { removeTempDirs } from './core.js';

afterAll(() => removeTempDirs());
