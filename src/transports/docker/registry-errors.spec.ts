import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { networkError } from './registry-errors';

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

  it('other socket failures are unavailability, retryable', () => {
    const e = networkError('x', 'r:5000', tlsFailure('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5000'));
    assert.equal(e.code, 'UPSTREAM_UNAVAILABLE');
    assert.equal(e.upstream.retryable, true);
  });
});
