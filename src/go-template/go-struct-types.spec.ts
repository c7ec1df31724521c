import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GoStructTypes } from './go-struct-types';
import { renderGoTemplate } from './go-template';

describe('GoStructTypes: the caller\'s struct types', () => {
  const types = new GoStructTypes([
    {
      name: 'pkg.Outer',
      fields: [
        { name: 'ID', type: 'string', jsonName: 'id' },
        { name: 'Note', type: 'string', jsonName: 'note', omitEmpty: true },
        { name: 'Extra', type: 'string', hidden: true },
        { name: 'When', type: '*time.Time' },
        { name: 'Inner', type: 'pkg.Inner' },
        { name: 'Inners', type: '[]pkg.Inner' },
      ],
    },
    { name: 'pkg.Inner', fields: [{ name: 'N', type: 'int' }] },
  ]);
  const run = (template: string, data: unknown): string => renderGoTemplate(template, data, { structTypes: types, rootType: 'pkg.Outer' });
  it('types the fields, zero values included, and keeps declaration order', () => {
    assert.equal(run('{{.}}|{{printf "%T %T" .Inner .Inners}}', { Inners: [{ N: 2 }], ID: 'x' }), '{x  <nil> {0} [{2}]}|pkg.Inner []pkg.Inner');
  });

  it('uses json names and omitempty, and leaves hidden fields out of printing and json', () => {
    const data = { ID: 'x', Extra: 'secret', When: '2024-01-02T03:04:05Z', Inners: null };
    assert.equal(run('{{json .}}', data), '{"id":"x","When":"2024-01-02T03:04:05Z","Inner":{"N":0},"Inners":null}');
    assert.equal(run('{{json .}}', { ...data, Note: 'n' }), '{"id":"x","note":"n","When":"2024-01-02T03:04:05Z","Inner":{"N":0},"Inners":null}');
    assert.equal(run('{{.Extra}}', data), 'secret');
    assert.ok(!run('{{.}}', data).includes('secret'));
  });

  it('treats the fields declared *time.Time as times by default', () => {
    assert.deepEqual(types.timeFieldNames, ['When']);
    assert.equal(run('{{.When}}', { When: '2024-01-02T03:04:05Z' }), '2024-01-02 03:04:05 +0000 UTC');
  });

  it('refuses duplicate types and fields and unsupported field types', () => {
    assert.throws(() => new GoStructTypes([{ name: 'a.A', fields: [] }, { name: 'a.A', fields: [] }]), { name: 'TypeError', message: /a\.A is declared twice/ });
    assert.throws(() => new GoStructTypes([{ name: 'a.A', fields: [{ name: 'X', type: 'string' }, { name: 'X', type: 'int' }] }]), { name: 'TypeError', message: /a\.A\.X is declared twice/ });
    assert.throws(() => new GoStructTypes([{ name: 'a.A', fields: [{ name: 'X', type: '[]a.B' }] }]), { name: 'TypeError', message: /a\.A\.X has unsupported type \[\]a\.B/ });
  });

  it('refuses a rootType that is not declared', () => {
    assert.throws(() => renderGoTemplate('{{.}}', {}, { structTypes: types, rootType: 'pkg.Nope' }), { name: 'TypeError', message: /rootType pkg\.Nope/ });
  });

  it('without struct types, an object is a map', () => {
    assert.equal(renderGoTemplate('{{.a}}|{{.b}}|{{printf "%T" .}}', { a: 'x' }), 'x|<no value>|map[string]string');
  });
});
