import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DIGEST, render, rejects } from './testing/template-fixture';

describe('renderGoTemplate: text and actions', () => {
  it('passes text through unchanged', () => {
    assert.equal(render(''), '');
    assert.equal(render('plain text\n\twith } and { braces'), 'plain text\n\twith } and { braces');
  });

  it('substitutes actions inside text', () => {
    assert.equal(render('Name: {{.Name}} Digest: {{.Digest}}'), `Name: registry.example.com/team/app Digest: ${DIGEST}`);
  });

  it('trims whitespace before {{- and after -}}', () => {
    assert.equal(render('a  {{- "b" -}}  c'), 'abc');
    assert.equal(render('a \n\t {{- .Os}}'), 'alinux');
    assert.equal(render('{{.Os -}} \r\n x'), 'linuxx');
    assert.equal(render('{{ 3 -}}  x'), '3x');
  });

  it('treats {{- followed by a non-space as a negative number, not a trim marker', () => {
    assert.equal(render('a {{-3}} c'), 'a -3 c');
    rejects('a {{-"b"-}} c', /illegal number syntax: "-"/);
  });

  it('allows newlines inside actions', () => {
    assert.equal(render('{{printf\n"%s-%s"\n.Os\n.Architecture}}'), 'linux-amd64');
  });

  it('drops comments, honouring trim markers around them', () => {
    assert.equal(render('a{{/* note */}}b'), 'ab');
    assert.equal(render('{{/* c */}}a{{- /* d */ -}} b'), 'ab');
    assert.equal(render('{{- /* comment\nspanning lines */ -}}\n  x'), 'x');
  });

  it('rejects malformed comments', () => {
    rejects('{{/* c */ }}', /comment ends before closing delimiter/);
    rejects('{{/* c', /unclosed comment/);
    rejects('{{ /* c */}}', /unexpected "\/" in command/);
  });

  it('renders a range over the layers as a multi-line report', () => {
    const template = '{{range .LayersData -}}\n{{.Digest}} {{.Size}}\n{{end -}}\ndone';
    assert.equal(render(template), 'sha256:aaaa 32\nsha256:bbbb 1048576\ndone');
  });
});

describe('renderGoTemplate: errors', () => {
  it('reports lexical errors', () => {
    rejects('{{', /unclosed action/);
    rejects('{{.Name', /unclosed action/);
    rejects('{{(1}}', /unclosed left paren/);
    rejects('{{1)}}', /unexpected right paren/);
    rejects('{{#}}', /unexpected "#" in command/);
    rejects('{{.Name.}}', /unexpected <\.> in operand/);
    rejects('{{.Na"me}}', /bad character U\+0022 '"'/);
    rejects('{{\u0007}}', /unrecognized character in action: U\+0007/);
    rejects('{{$x :}}', /expected :=/);
  });
});
