import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect, render } from './testing/template-fixture';

describe('renderGoTemplate: options', () => {
  it('formats exactly the fields named in timeFields as times', () => {
    const data = { ...inspect, Built: '2023-05-06T07:08:09Z' };
    assert.equal(render('{{.Built}}', data, { timeFields: ['Created', 'Built'] }), '2023-05-06 07:08:09 +0000 UTC');
    assert.equal(render('{{.Created}}', inspect, { timeFields: [] }), '2024-01-02T03:04:05.1234Z');
  });

  it('accepts Date objects as time values', () => {
    assert.equal(render('{{.Created}}', { ...inspect, Created: new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 60)) }), '2020-01-02 03:04:05.06 +0000 UTC');
  });

  it('renders non-object data as the value itself', () => {
    assert.equal(render('{{.}}', ['a', 'b']), '[a b]');
    assert.equal(render('{{.}}|{{len .}}', 'text'), 'text|4');
    assert.equal(render('{{.}}', null), '<no value>');
  });
});

describe('renderGoTemplate: errors', () => {
  it('rejects data that cannot be mapped to Go values with a TypeError, not a TemplateError', () => {
    assert.throws(() => render('{{.Created}}', { ...inspect, Created: 'yesterday' }), { name: 'TypeError', message: /invalid time value "yesterday"/ });
    assert.throws(() => render('{{.Os}}', { ...inspect, Created: '2024-02-30T00:00:00Z' }), { name: 'TypeError', message: /invalid time value "2024-02-30T00:00:00Z"/ });
    const cyclic: Record<string, unknown> = { ...inspect };
    cyclic['Self'] = cyclic;
    assert.throws(() => render('{{.Os}}', cyclic), { name: 'TypeError', message: /cyclic data structure/ });
    assert.throws(() => render('{{.Os}}', { ...inspect, Extra: () => 1 }), { name: 'TypeError', message: /unsupported data value of type function/ });
  });
});
