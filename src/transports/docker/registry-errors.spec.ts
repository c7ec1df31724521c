import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { networkError, registryResponseError } from './registry-errors';

const tlsFailure = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('networkError', () => {
  it('a registry certificate we do not trust: advice about its CA', () => {
    const e = networkError('pinging container registry r:5000', 'r:5000', tlsFailure('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'));
    assert.equal(e.code, 'UPSTREAM_TLS_ERROR');
    assert.match(e.message, /self-signed certificate in certificate chain \(configure its CA in SKIFF_REGISTRIES_CONFIG/);
  });

  it('the registry refuses or requires a client certificate: advice about clientCert/clientKey, OpenSSL noise trimmed', () => {
    const bad = networkError(
      'reading manifest',
      'r:5000',
      tlsFailure(
        'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
        '409D6A8B9C7F0000:error:0A000412:SSL routines:ssl3_read_bytes:ssl/tls alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number 42\n',
      ),
    );
    assert.equal(bad.code, 'UPSTREAM_TLS_ERROR');
    assert.equal(
      bad.message,
      'reading manifest: TLS connection to r:5000 failed: ssl/tls alert bad certificate (TLS alert 42) (the registry asks for a client certificate or refuses the one given: configure clientCert and clientKey for it in SKIFF_REGISTRIES_CONFIG)',
    );
    const required = networkError('x', 'r:5000', tlsFailure('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'));
    assert.match(required.message, /configure clientCert and clientKey/);
  });

  it('a server answering plain HTTP to TLS (skopeo: server gave HTTP response to HTTPS client): said so, with the advice for a plain-HTTP registry, not a CA', () => {
    const e = networkError(
      'pinging container registry r:5000',
      'r:5000',
      tlsFailure('ERR_SSL_WRONG_VERSION_NUMBER', '40B8E2F5CA7F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:354:\n'),
    );
    assert.equal(e.code, 'UPSTREAM_TLS_ERROR');
    assert.equal(
      e.message,
      'pinging container registry r:5000: TLS connection to r:5000 failed: wrong version number (the server does not speak TLS: it answered plain HTTP to an HTTPS client? for a plain-HTTP registry use tlsVerify=false, or mark it insecure in SKIFF_REGISTRIES_CONFIG)',
    );
  });

  it('other socket failures are unavailability, retryable', () => {
    const e = networkError('x', 'r:5000', tlsFailure('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5000'));
    assert.equal(e.code, 'UPSTREAM_UNAVAILABLE');
    assert.equal(e.upstream.retryable, true);
  });
});

describe('registryResponseError', () => {
  const body = (errors: { code: string; message: string }[]) => Buffer.from(JSON.stringify({ errors }));

  it('a token without the scope (Bearer error="insufficient_scope"): DENIED first, then the body\'s errors, as skopeo prints them', () => {
    const e = registryResponseError('reading manifest 1.0 in r:5000/team/app', 'r:5000', 401, body([{ code: 'UNAUTHORIZED', message: 'authentication required' }]), {
      wwwAuthenticate: 'Bearer realm="https://auth/token",service="reg",scope="repository:team/app:pull",error="insufficient_scope"',
    });
    assert.equal(e.code, 'REGISTRY_DENIED');
    assert.equal(e.upstream.upstreamCode, 'DENIED');
    assert.equal(
      e.message,
      'reading manifest 1.0 in r:5000/team/app: registry r:5000 answered DENIED: requested access to the resource is denied; UNAUTHORIZED: authentication required',
    );
  });

  it('invalid_token with an error_description: UNAUTHORIZED with that description', () => {
    const e = registryResponseError('x', 'r:5000', 401, Buffer.alloc(0), { wwwAuthenticate: 'Bearer realm="https://auth/token",error="invalid_token",error_description="token expired"', hadCredentials: true });
    assert.equal(e.code, 'INVALID_CREDENTIALS');
    assert.equal(e.upstream.upstreamCode, 'UNAUTHORIZED');
    assert.equal(e.message, 'x: registry r:5000 answered UNAUTHORIZED: token expired');
  });

  it('every error of the body is named (a few, then how many more), not only the first', () => {
    const e = registryResponseError('x', 'r:5000', 400, body([
      { code: 'MANIFEST_INVALID', message: 'manifest invalid' },
      { code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' },
    ]));
    assert.equal(e.upstream.upstreamCode, 'MANIFEST_INVALID');
    assert.equal(e.message, 'x: registry r:5000 answered MANIFEST_INVALID: manifest invalid; BLOB_UNKNOWN: blob unknown to registry');
    const many = registryResponseError('x', 'r:5000', 400, body(Array.from({ length: 9 }, (_, i) => ({ code: `E${i}`, message: 'm' }))));
    assert.equal(many.message, 'x: registry r:5000 answered E0: m; E1: m; E2: m; E3: m (and 5 more errors)');
  });

  it('a Basic challenge or a Bearer one without error adds nothing; no JSON body: the status', () => {
    assert.equal(registryResponseError('x', 'r', 403, Buffer.from('nope'), { wwwAuthenticate: 'Basic realm="r"' }).message, 'x: registry r answered HTTP 403');
    assert.equal(registryResponseError('x', 'r', 400, Buffer.alloc(0), { wwwAuthenticate: 'Bearer realm="https://a/t"' }).message, 'x: registry r answered HTTP 400');
  });

  it('a 401 without errors (a HEAD has no body) is UNAUTHORIZED: authentication required, as docker/distribution reads it (skopeo: unauthorized: …)', () => {
    const e = registryResponseError('checking blob', 'r', 401, Buffer.alloc(0), { wwwAuthenticate: 'Basic realm="r"' });
    assert.equal(e.message, 'checking blob: registry r answered UNAUTHORIZED: authentication required');
    assert.equal(e.upstream.upstreamCode, 'UNAUTHORIZED');
    assert.equal(e.code, 'REGISTRY_DENIED');
  });

  it("never carries the caller's secrets into a detail when a registry echoes them", () => {
    const body = Buffer.from(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'user u with password hunter2-pw denied' }] }));
    const err = registryResponseError('reading manifest 1 in a/b', 'r.example', 401, body, { hadCredentials: true, secrets: ['hunter2-pw'] });
    assert.ok(!err.message.includes('hunter2-pw'), err.message);
    assert.match(err.message, /password \[redacted\] denied/);
  });
});
