import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { baseProblem } from './problem';
import { chooseRequestId } from './request-observer';

/**
 * Requests Node's HTTP parser refuses (a bad request line or header, headers over the size
 * limit, a request not received in time) never reach Express. Node then lets the server
 * write to the socket itself: this answers them as problem+json with an `X-Request-Id` and
 * closes the connection, instead of Node's bare `400` / `431` or a reset. A socket that is
 * already unwritable or mid-answer is only destroyed.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex & { _httpMessage?: { headersSent?: boolean } }) => {
    if (err.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const requestId = chooseRequestId(undefined);
    const [code, detail] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? (['HEADERS_TOO_LARGE', 'the request line and headers are larger than this server accepts'] as const)
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? (['REQUEST_TIMEOUT', 'the request was not received completely in time'] as const)
          : (['MALFORMED_REQUEST', `the request is not valid HTTP/1.1 (${describe(err.code)})`] as const);
    const problem = { ...baseProblem(code, detail, `urn:skiff:request:${requestId}`), requestId };
    const body = JSON.stringify(problem);
    // A HEAD request's answer has no body, whatever else is wrong with the request.
    const head = err.rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
    socket.end(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Bad Request'}\r\n` +
        'Content-Type: application/problem+json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        (head ? '' : body),
    );
  });
}

const DESCRIPTIONS: Record<string, string> = {
  HPE_INVALID_METHOD: 'invalid method',
  HPE_INVALID_URL: 'invalid request target',
  HPE_INVALID_VERSION: 'invalid HTTP version',
  HPE_INVALID_HEADER_TOKEN: 'invalid header name or value',
  HPE_INVALID_CONTENT_LENGTH: 'invalid Content-Length',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'Content-Length together with Transfer-Encoding',
  HPE_INVALID_TRANSFER_ENCODING: 'invalid Transfer-Encoding',
  HPE_INVALID_CHUNK_SIZE: 'invalid chunk size',
  HPE_LF_EXPECTED: 'bare line feed where CRLF is required',
  HPE_CR_EXPECTED: 'missing CRLF',
  HPE_INVALID_CONSTANT: 'malformed request line',
};

function describe(code: string | undefined): string {
  return (code !== undefined ? DESCRIPTIONS[code] : undefined) ?? 'the HTTP parser refused it';
}
