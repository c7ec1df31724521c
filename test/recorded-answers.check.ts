/**
 * The contract check run after the e2e suites (scripts/run-tests.mjs runs it once they have
 * finished): every answer the services sent during the run, as the contract taps recorded them
 * (test/support/contract-tap.ts), is declared in openapi/openapi.json for its operation — the
 * status, and every header that is not plain HTTP framing.
 *
 * Not checked, each for a reason:
 * - requests that match no operation of the document (unknown paths, other spellings such as
 *   `/V1/…`, methods a path does not have, the docs and the document itself): no operation to
 *   hold them to; the access-control suite asserts what they get;
 * - HEAD (Express answers it for every GET) and CORS preflights (OPTIONS): not operations;
 * - 408 and 431, answered by the HTTP server before any routing (src/http/client-error.ts)
 *   when a request's head never arrived whole;
 * - framing and CORS headers (HEADERS_NOT_DECLARED below).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import type { AnswerRecord } from './support/contract-tap';
import { REPO_ROOT } from './support/skiff-service';

/** Headers that are HTTP framing or CORS, never part of an operation's contract. */
const HEADERS_NOT_DECLARED = new Set([
  'content-type',
  'content-length',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'vary',
  'access-control-allow-origin',
  'access-control-expose-headers',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
]);

interface Response {
  headers?: Record<string, unknown>;
}
interface Operation {
  operationId: string;
  responses: Record<string, Response>;
}

const spec = JSON.parse(readFileSync(join(REPO_ROOT, 'openapi/openapi.json'), 'utf8')) as { paths: Record<string, Record<string, Operation>> };
const routes = Object.entries(spec.paths).map(([template, item]) => ({
  template,
  pattern: new RegExp(`^${template.split(/\{[^}]+\}/).map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('[^/]+')}$`),
  item,
}));

function operationOf(record: AnswerRecord): { template: string; op: Operation } | undefined {
  for (const r of routes) {
    if (!r.pattern.test(record.path)) continue;
    const op = r.item[record.method.toLowerCase()];
    return op ? { template: r.template, op } : undefined;
  }
  return undefined;
}

it('every status and header the services sent during the e2e run is declared for its operation', (t) => {
  const dir = process.env['SKIFF_TEST_CONTRACT_DIR'];
  if (!dir) {
    t.skip('SKIFF_TEST_CONTRACT_DIR is not set: no recordings (run through npm test)');
    return;
  }
  const records = readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as AnswerRecord),
    );
  if (records.length === 0) {
    t.skip('no answers were recorded (no suite started a service)');
    return;
  }
  const problems = new Map<string, number>();
  const seen = new Set<string>();
  let checked = 0;
  for (const record of records) {
    if (record.method === 'HEAD' || record.method === 'OPTIONS') continue;
    const found = operationOf(record);
    if (!found) continue;
    if ([408, 431].includes(record.status)) continue;
    checked++;
    const { template, op } = found;
    seen.add(op.operationId);
    const response = op.responses[String(record.status)] ?? op.responses['default'];
    const where = `${record.method} ${template} (${op.operationId}) → ${record.status}`;
    if (!response) {
      problems.set(`${where}: status not declared`, (problems.get(`${where}: status not declared`) ?? 0) + 1);
      continue;
    }
    const declared = new Set(Object.keys(response.headers ?? {}).map((h) => h.toLowerCase()));
    for (const h of record.headers) {
      if (HEADERS_NOT_DECLARED.has(h) || declared.has(h)) continue;
      const key = `${where}: header ${h} not declared`;
      problems.set(key, (problems.get(key) ?? 0) + 1);
    }
  }
  t.diagnostic(`${records.length} answers recorded, ${checked} checked against ${seen.size} operations`);
  assert.deepEqual(
    [...problems].map(([p, n]) => `${p} (${n}×)`).sort(),
    [],
  );
});
