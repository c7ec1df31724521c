import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { render, rejects } from './testing/template-fixture';

describe('renderGoTemplate: literals', () => {
  it('decodes interpreted and raw string literals', () => {
    assert.equal(render('{{`a\\n`}}|{{"a\\x41\\u00e9\\101\\\\\\"\\u263a\\U0001F600"}}|{{"\\a\\b\\f\\v" | len}}|{{"\\xc3\\xa9"}}'), 'a\\n|aAéA\\"☺😀|4|é');
    assert.equal(render('{{`multi\r\nline`}}'), 'multi\nline');
  });

  it('decodes character constants as integers', () => {
    assert.equal(render("{{'a'}} {{'\\x41'}} {{'\\u263a'}} {{'\\''}} {{printf \"%c\" 'é'}}"), '97 65 9786 39 é');
    rejects("{{'ab'}}", /malformed character constant: 'ab'/);
    rejects("{{''}}", /invalid syntax/);
  });

  it('parses Go number syntax', () => {
    assert.equal(render('{{0x10}} {{-0x10}} {{0o17}} {{017}} {{0b101}} {{+5}} {{1_000_000}} {{0x1p-2}} {{1e3}}'), '16 -16 15 15 5 5 1000000 0.25 1000');
    assert.equal(render('{{9223372036854775807}} {{-9223372036854775808}}'), '9223372036854775807 -9223372036854775808');
  });

  it('rejects malformed and out-of-range numbers', () => {
    rejects('{{99999999999999999999}}', /integer overflow: "99999999999999999999"/);
    rejects('{{18446744073709551615}}', /18446744073709551615 overflows int/);
    rejects('{{1e400}}', /illegal number syntax: "1e400"/);
    rejects('{{1__0}}', /illegal number syntax: "1__0"/);
    rejects('{{1x}}', /bad number syntax: "1x"/);
    rejects('{{3.Foo}}', /bad number syntax: "3\.F"/);
    rejects('{{1.2.3}}', /unexpected "\.3" in operand/);
  });

  it('rejects malformed strings', () => {
    rejects('{{"abc}}', /unterminated quoted string/);
    rejects('{{"a\nb"}}', /unterminated quoted string/);
    rejects('{{`abc}}', /unterminated raw quoted string/);
    rejects('{{"\\q"}}', /invalid syntax/);
    rejects('{{"\\\'"}}', /invalid syntax/);
  });

  it('rejects fields on literals', () => {
    rejects('{{"a".Foo}}', /unexpected \. after term "\\"a\\""/);
    rejects('{{nil.Foo}}', /unexpected \. after term "nil"/);
    rejects('{{true.x}}', /unexpected \. after term "true"/);
  });
});

describe('renderGoTemplate: errors', () => {
  it('raises TemplateError with code INVALID_TEMPLATE and a position', () => {
    const e = rejects('line one\n  {{.Name | nosuchfunc}}', /function "nosuchfunc" not defined/);
    assert.equal(e.code, 'INVALID_TEMPLATE');
    assert.equal(e.name, 'TemplateError');
    assert.ok(e instanceof Error);
    assert.equal(e.line, 2);
    assert.equal(e.column, 13);
    assert.match(e.message, /^template: 2:13: /);
  });

  it('rejects define, template and block as unsupported', () => {
    rejects('{{define "x"}}y{{end}}', /unsupported template syntax: \{\{define\}\}/);
    rejects('{{template "x"}}', /unsupported template syntax: \{\{template\}\}/);
    rejects('{{block "x" .}}y{{end}}', /unsupported template syntax: \{\{block\}\}/);
  });

  it('rejects complex numbers, time methods and invalid UTF-8 literals as unsupported', () => {
    rejects('{{1i}}', /unsupported template syntax: complex number 1i/);
    rejects('{{.Created.Date}}', /unsupported template syntax: method Date of a time value/);
    rejects('{{"\\xff"}}', /unsupported template syntax: string literal "\\xff" is not valid UTF-8/);
  });

  it('reports undefined variables at parse time', () => {
    rejects('{{$nope}}', /undefined variable "\$nope"/);
  });

  it('bounds template nesting', () => {
    rejects(`{{${'('.repeat(600)}1${')'.repeat(600)}}}`, /unsupported template syntax: nesting deeper than 500 levels/);
  });
});
