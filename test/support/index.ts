/** Test-support barrel: real registries, image fixtures and the skopeo oracle. */
export * from './registry';
export * from './images';
export * from './skopeo';
export * from './free-port';
export * from './tmp';
export { RegistryClient, RegistryHttpError, clientFor, expectStatus, parseChallenge } from './registry-client';
export { parseScope, signRegistryToken } from './token-server';
export { createPki, sharedPki, type TestPki } from './pki';
export { makeTar, gzipStored, type TarEntry } from './tar';
