/**
 * Test PKI made with the `openssl` CLI: a self-signed CA, a TLS server certificate for
 * 127.0.0.1/localhost, a TLS client certificate, and an RSA token-signing certificate, all
 * issued by that CA.
 *
 * Contract: every path is absolute and inside `dir`; certificates are valid for ten
 * years; the CA has basicConstraints CA:TRUE; the server certificate carries
 * SAN IP:127.0.0.1 + DNS:localhost and extendedKeyUsage serverAuth; the client certificate
 * carries extendedKeyUsage clientAuth; the token
 * certificate's key is RSA 2048 (for RS256 JWTs).
 */
import { execFile } from 'node:child_process';
import { randomBytes, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTmpDir } from './tmp';

const execFileP = promisify(execFile);

export interface TestPki {
  dir: string;
  caCertFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** Client certificate and key, for registries that require one (`http.tls.clientcas`). */
  clientCertFile: string;
  clientKeyFile: string;
  tokenCertFile: string;
  tokenKeyFile: string;
  /** PEM of the CA certificate. */
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** Token-signing private key. */
  tokenKey: KeyObject;
  /** Base64 (standard, not URL) DER of the token-signing certificate, as used in a JWT `x5c`. */
  tokenCertDerBase64: string;
}

const OPENSSL_CNF = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = skiff test
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_token]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr || String(err)}`);
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

/** Key + CSR, then a certificate signed by the CA with the `ext` section. */
async function issue(dir: string, name: string, cn: string, keyArgs: string[], ext: string): Promise<void> {
  await openssl(['req', '-new', '-config', 'openssl.cnf', ...keyArgs, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  await openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', '3650', '-sha256', '-extfile', 'openssl.cnf', '-extensions', ext, '-out', `${name}.crt`],
    dir,
  );
}

/** Creates a fresh PKI in `dir` (or in a new tmp dir). Takes ~0.1–0.3 s (RSA keygen dominates). */
export async function createPki(dir?: string): Promise<TestPki> {
  const root = dir ?? (await makeTmpDir('skiff-pki-'));
  await mkdir(root, { recursive: true });
  await writeFile(join(root, 'openssl.cnf'), OPENSSL_CNF);
  await openssl(['req', '-x509', '-new', '-config', 'openssl.cnf', '-extensions', 'v3_ca', ...EC_KEY, '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=skiff test CA'], root);
  await Promise.all([
    issue(root, 'server', 'localhost', EC_KEY, 'v3_server'),
    issue(root, 'client', 'skiff test client', EC_KEY, 'v3_client'),
    issue(root, 'token', 'skiff test token signer', ['-newkey', 'rsa:2048'], 'v3_token'),
  ]);
  const [caPem, serverCertPem, serverKeyPem, tokenCertPem, tokenKeyPem] = await Promise.all(
    ['ca.crt', 'server.crt', 'server.key', 'token.crt', 'token.key'].map((f) => readFile(join(root, f), 'utf8')),
  );
  const tokenCertDerBase64 = tokenCertPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return {
    dir: root,
    caCertFile: join(root, 'ca.crt'),
    caKeyFile: join(root, 'ca.key'),
    serverCertFile: join(root, 'server.crt'),
    serverKeyFile: join(root, 'server.key'),
    clientCertFile: join(root, 'client.crt'),
    clientKeyFile: join(root, 'client.key'),
    tokenCertFile: join(root, 'token.crt'),
    tokenKeyFile: join(root, 'token.key'),
    caPem,
    serverCertPem,
    serverKeyPem,
    tokenKey: createPrivateKey(tokenKeyPem),
    tokenCertDerBase64,
  };
}

let shared: Promise<TestPki> | undefined;

/** One PKI per process, created on first use and removed at process exit. */
export function sharedPki(): Promise<TestPki> {
  shared ??= createPki().catch((err: unknown) => {
    shared = undefined;
    throw err;
  });
  return shared;
}
