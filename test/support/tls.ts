/**
 * Throw-away PKI for tests, made with the `openssl` CLI at test time: a CA, and server
 * certificates it signs for 127.0.0.1 / localhost. Nothing is committed; every run makes new
 * keys in the given directory.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TestCa {
  /** CA certificate (PEM) and its key. */
  certFile: string;
  keyFile: string;
}

export interface ServerCert {
  /** Leaf certificate (PEM), its unencrypted PKCS#8 key, and leaf + CA chain in one PEM. */
  certFile: string;
  keyFile: string;
  chainFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve, reject) => {
    const p = spawn('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    p.once('error', reject);
    p.once('close', (c) => resolve({ code: c ?? -1, output: out }));
  });
  if (code !== 0) throw new Error(`openssl ${args.join(' ')} failed (exit ${code}):\n${output}`);
}

/** A new self-signed CA in `dir` (files `<name>.pem`, `<name>.key`). */
export async function createCa(dir: string, name = 'ca'): Promise<TestCa> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  await openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=noisefloor test ${name}`],
    dir,
  );
  return { certFile, keyFile };
}

/** A server certificate signed by `ca`, valid for 127.0.0.1 and localhost. */
export async function createServerCert(dir: string, ca: TestCa, name = 'server'): Promise<ServerCert> {
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const certFile = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', '/CN=localhost'], dir);
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext],
    dir,
  );
  const chainFile = join(dir, `${name}-chain.pem`);
  await writeFile(chainFile, (await readFile(certFile, 'utf8')) + (await readFile(ca.certFile, 'utf8')));
  return { certFile, keyFile, chainFile };
}

/**
 * The key of `cert` encrypted with `password` (PKCS#8, PBE-SHA1-3DES: a scheme Java's
 * EncryptedPrivateKeyInfo reads without extra providers, which Kafka's PEM key store needs).
 */
export async function encryptKeyForJava(dir: string, keyFile: string, password: string, out = 'key-encrypted.pem'): Promise<string> {
  const file = join(dir, out);
  await openssl(['pkcs8', '-topk8', '-in', keyFile, '-out', file, '-v1', 'PBE-SHA1-3DES', '-passout', `pass:${password}`], dir);
  return file;
}
