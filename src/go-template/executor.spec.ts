import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DIGEST, bare, inspect, render, rejects } from './testing/template-fixture';

describe('renderGoTemplate: fields, dot and $', () => {
  it('evaluates field chains through maps and structs', () => {
    assert.equal(render('{{.Labels.alpha}}'), '<a&b>');
    assert.equal(render('{{(index .LayersData 1).Annotations.b}}'), '2');
  });

  it('binds both . and $ to the data', () => {
    assert.equal(render('{{range .RepoTags}}{{$.Name}}:{{.}} {{end}}'), 'registry.example.com/team/app:1.0 registry.example.com/team/app:latest ');
    assert.equal(render('{{with .Labels}}{{.num}}{{$.Os}}{{end}}'), '5linux');
  });

  it('prints <no value> for a missing map key, at any depth', () => {
    assert.equal(render('{{.Labels.nope}}|{{.Labels.nope.deeper}}'), '<no value>|<no value>');
    assert.equal(render('{{.Labels.x}}', bare), '<no value>');
  });

  it('rejects unknown fields of the inspect struct like Go does', () => {
    const e = rejects('{{.Foo}}', /executing at <\.Foo>: can't evaluate field Foo in type interface \{\}/);
    assert.equal(e.line, 1);
    assert.equal(e.column, 3);
    rejects('{{range .LayersData}}{{.Nope}}{{end}}', /can't evaluate field Nope in type types\.ImageInspectLayer/);
  });

  it('rejects fields of non-struct values', () => {
    rejects('{{.Name.Foo}}', /can't evaluate field Foo in type string/);
    rejects('{{.Env.Foo}}', /can't evaluate field Foo in type \[\]string/);
    rejects('{{.Labels.alpha.x}}', /can't evaluate field x in type string/);
    rejects('{{.Created.Foo}}', /can't evaluate field Foo in type \*time\.Time/);
  });

  it('gives Go zero values to struct fields absent from the data', () => {
    assert.equal(render('[{{.Name}}][{{.Tag}}][{{.Variant}}]', { ...bare, Variant: undefined }), '[][][]');
    assert.equal(render('{{.Labels}} {{.Env}} {{.Created}} {{len .Env}}', { Digest: DIGEST }), 'map[] [] <nil> 0');
  });

  it('exposes Variant without printing it as part of the struct', () => {
    assert.equal(render('{{.Variant}}', bare), 'v8');
    assert.ok(!render('{{.}}', bare).includes('v8'));
  });

  it('accepts extra data fields and types them by inference', () => {
    const data = { ...inspect, Extra: { n: 1, f: 1.5, ok: true, list: ['x'], none: null } };
    assert.equal(render('{{.Extra.n}} {{.Extra.f}} {{.Extra.ok}} {{.Extra.list}} {{.Extra.none}}', data), '1 1.5 true [x] <no value>');
    assert.equal(render('{{.Extra}}', data), 'map[f:1.5 list:[x] n:1 none:<nil> ok:true]');
  });

  it('supports the digest.Digest methods', () => {
    assert.equal(render('{{.Digest.Algorithm}} {{.Digest.Encoded}}'), `sha256 ${DIGEST.slice(7)}`);
    assert.equal(render('{{.Digest.Hex}}|{{.Digest.String}}'), `${DIGEST.slice(7)}|${DIGEST}`);
    rejects('{{.Digest.Encoded 1}}', /wrong number of args for Encoded: want 0 got 1/);
  });

  it('rejects arguments to fields and to non-functions', () => {
    rejects('{{.Os "x"}}', /Os has arguments but cannot be invoked as function/);
    rejects('{{.Labels.alpha "x"}}', /alpha is not a method but has arguments/);
    rejects('{{"a" | .Os}}', /Os has arguments but cannot be invoked as function/);
    rejects('{{. "x"}}', /can't give argument to non-function \./);
    rejects('{{1 2}}', /can't give argument to non-function 1/);
  });
});

describe('renderGoTemplate: variables and pipelines', () => {
  it('declares and reassigns variables with := and =', () => {
    assert.equal(render('{{$x := 1}}{{if true}}{{$x = 2}}{{$y := 3}}{{$y}}{{end}}{{$x}}'), '32');
    assert.equal(render('{{$n := len .Env}}{{range .Env}}{{$n}}{{end}}'), '22');
  });

  it('scopes variables to the enclosing control structure', () => {
    rejects('{{if true}}{{$y := 3}}{{end}}{{$y}}', /undefined variable "\$y"/);
    rejects('{{range $x := .Env}}{{end}}{{$x}}', /undefined variable "\$x"/);
  });

  it('reports assignment to an undeclared variable at execution', () => {
    rejects('{{$x = 1}}', /undefined variable: \$x/);
  });

  it('supports variables with field chains', () => {
    assert.equal(render('{{$x := .Labels}}{{$x.alpha}}|{{$x.nope}}'), '<a&b>|<no value>');
    assert.equal(render('{{with $l := index .LayersData 1}}{{$l.Annotations.a}}{{end}}'), '1');
  });

  it('passes the previous command result as the last argument', () => {
    assert.equal(render('{{.Labels.num | printf "%s!" | printf "%q"}}'), '"5!"');
    assert.equal(render('{{"x" | printf "%s %s" "y"}}'), 'y x');
    assert.equal(render('{{.Labels | len | printf "%03d"}}'), '004');
  });

  it('evaluates parenthesised pipelines and chains on their results', () => {
    assert.equal(render('{{len (index .Env 0)}}'), '13');
    assert.equal(render('{{(index .LayersData 0).Digest}}'), 'sha256:aaaa');
    assert.equal(render('{{(.Labels).alpha}}'), '<a&b>');
  });

  it('rejects non-executable pipeline stages and empty commands', () => {
    rejects('{{.Name | 1}}', /non executable command in pipeline stage 2/);
    rejects('{{.Name | | len}}', /unexpected "\|" in command/);
    rejects('{{}}', /missing value for command/);
  });

  it('rejects nil as a command', () => {
    rejects('{{nil}}', /nil is not a command/);
    rejects('{{(nil)}}', /nil is not a command/);
  });
});

describe('renderGoTemplate: if and with', () => {
  it('takes if / else if / else branches by Go truth', () => {
    assert.equal(render('{{if .Name}}a{{else if .Os}}b{{else}}c{{end}}', bare), 'b');
    assert.equal(render('{{if .Name}}a{{else if .Foo}}b{{else}}c{{end}}', { Name: 'n' }), 'a');
    assert.equal(render('{{if eq .Os "windows"}}w{{else if eq .Os "darwin"}}d{{else}}other{{end}}'), 'other');
  });

  it('treats empty, zero and missing values as false and structs as true', () => {
    assert.equal(render('{{if 1.5}}a{{end}}{{if 0.0}}b{{end}}{{if ""}}c{{end}}{{if "0"}}d{{end}}{{if .RepoTags}}e{{end}}{{if .Labels}}f{{end}}', bare), 'ad');
    assert.equal(render('{{if .Labels.nope}}x{{else}}y{{end}}{{if index .LayersData 0}}s{{end}}'), 'ys');
  });

  it('rebinds dot with with and takes else for empty values', () => {
    assert.equal(render('{{with .Labels}}{{.alpha}}{{end}}'), '<a&b>');
    assert.equal(render('{{with .Name}}n={{.}}{{else}}noname{{end}}', bare), 'noname');
    assert.equal(render('{{with $x := .Os}}{{$x}}{{end}}'), 'linux');
  });

  it('supports else with chains', () => {
    assert.equal(render('{{with .Name}}{{.}}{{else with .Os}}os={{.}}{{end}}', bare), 'os=linux');
  });

  it('rejects malformed control structures', () => {
    rejects('{{if}}{{end}}', /missing value for if/);
    rejects('{{if .Name}}x', /unexpected EOF/);
    rejects('{{end}}', /unexpected \{\{end\}\}/);
    rejects('{{else}}', /unexpected \{\{else\}\}/);
    rejects('{{if .Os}}{{else}}{{else}}{{end}}', /expected end; found \{\{else\}\}/);
    rejects('{{end 1}}', /unexpected "1" in end/);
    rejects('{{with $a, $b := .Env}}{{end}}', /too many declarations in with/);
  });
});

describe('renderGoTemplate: range', () => {
  it('iterates slices with zero, one or two variables', () => {
    assert.equal(render('{{range .Env}}[{{.}}]{{end}}'), '[PATH=/usr/bin][A=<b>&c]');
    assert.equal(render('{{range $v := .Env}}{{$v}};{{end}}'), 'PATH=/usr/bin;A=<b>&c;');
    assert.equal(render('{{range $i, $v := .Env}}{{if $i}}, {{end}}{{$i}}={{$v}}{{end}}'), '0=PATH=/usr/bin, 1=A=<b>&c');
  });

  it('iterates maps in sorted key order', () => {
    assert.equal(render('{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}'), 'alpha=<a&b>;empty=;num=5;zeta=z;');
    assert.equal(render('{{range .Labels}}{{.}};{{end}}'), '<a&b>;;5;z;');
  });

  it('iterates integers', () => {
    assert.equal(render('{{range 3}}{{.}}{{end}}|{{range $i := 2}}{{$i}}{{end}}|{{range 0}}x{{else}}none{{end}}'), '012|01|none');
    rejects('{{range $i, $v := 3}}{{end}}', /can't use 3 to iterate over more than one variable/);
  });

  it('runs else for empty, nil and missing collections', () => {
    assert.equal(render('{{range .RepoTags}}x{{else}}none{{end}}', bare), 'none');
    assert.equal(render('{{range .Labels}}x{{else}}none{{end}}|{{range .Env}}x{{else}}none{{end}}', bare), 'none|none');
    assert.equal(render('{{range .Labels.nope}}x{{else}}none{{end}}'), 'none');
  });

  it('supports break and continue', () => {
    assert.equal(render('{{range .Env}}{{if eq . "PATH=/usr/bin"}}{{continue}}{{end}}{{.}}{{end}}'), 'A=<b>&c');
    assert.equal(render('{{range $i, $e := .Layers}}{{if $i}}{{break}}{{end}}{{$e}}{{end}}'), 'sha256:aaaa');
    rejects('{{break}}', /\{\{break\}\} outside \{\{range\}\}/);
    rejects('{{range .Env}}{{else}}{{continue}}{{end}}', /\{\{continue\}\} outside \{\{range\}\}/);
  });

  it('nests ranges with access to outer variables', () => {
    assert.equal(render('{{range $l := .LayersData}}{{range $k, $v := .Annotations}}{{$l.Size}}:{{$k}}={{$v}} {{end}}{{end}}'), '1048576:a=1 1048576:b=2 ');
  });

  it('rejects values that cannot be ranged over', () => {
    rejects('{{range .Os}}x{{end}}', /range can't iterate over linux/);
    rejects('{{range .Created}}{{end}}', /range can't iterate over 2024-01-02 03:04:05\.1234 \+0000 UTC/);
    rejects('{{range $a, $b, $c := .Env}}{{end}}', /too many declarations in range/);
    rejects('{{range .Env}}{{else if .Os}}{{end}}', /unexpected <if> in input/);
  });
});

describe('renderGoTemplate: errors', () => {
  it('names the failing action in execution errors', () => {
    const e = rejects('ok {{index .Layers 9}}', /^template: 1:6: executing at <index \.Layers 9>: error calling index: index out of range: 9$/);
    assert.equal(e.column, 6);
  });

  it('bounds the output size and the amount of work', () => {
    rejects('{{range 100}}{{$.Digest}}{{end}}', /output exceeds 1000 characters/, inspect, { maxOutputLength: 1000 });
    rejects('{{range 1000000000}}{{end}}', /execution exceeds 10000 steps/, inspect, { maxSteps: 10_000 });
    rejects('{{printf "%2000s" "x"}}', /output exceeds 1000 characters/, inspect, { maxOutputLength: 1000 });
  });
});
