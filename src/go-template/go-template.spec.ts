import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GoStructTypes } from './go-struct-types';
import { renderGoTemplate, type GoTemplateOptions } from './go-template';
import { TemplateError } from './template-error';

// Expected strings below are what Go's text/template prints for the equivalent Go value
// (most were checked against skopeo's own `inspect --format`).

const DIGEST = 'sha256:9211ff727ef38f67346b8aa0d4406ec53ed9ddce1783d3446e3ad7e54c26691c';

const inspect = {
  Name: 'registry.example.com/team/app',
  Digest: DIGEST,
  RepoTags: ['1.0', 'latest'],
  Created: '2024-01-02T03:04:05.1234Z',
  DockerVersion: '',
  Labels: { zeta: 'z', alpha: '<a&b>', num: '5', empty: '' },
  Architecture: 'amd64',
  Os: 'linux',
  Layers: ['sha256:aaaa', 'sha256:bbbb'],
  LayersData: [
    { MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip', Digest: 'sha256:aaaa', Size: 32, Annotations: null },
    { MIMEType: 'application/vnd.oci.image.layer.v1.tar+gzip', Digest: 'sha256:bbbb', Size: 1048576, Annotations: { b: '2', a: '1' } },
  ],
  Env: ['PATH=/usr/bin', 'A=<b>&c'],
};

/** The inspect output of an image without name, tags, labels, env or creation time. */
const bare = {
  Digest: DIGEST,
  RepoTags: [],
  Created: null,
  DockerVersion: '',
  Labels: null,
  Architecture: 'arm64',
  Os: 'linux',
  Variant: 'v8',
  Layers: [],
  LayersData: [],
  Env: null,
};

/** The Go structs of skopeo's inspect output (the data every template below executes on). */
const INSPECT_TYPES = new GoStructTypes([
  {
    name: 'inspect.Output',
    fields: [
      { name: 'Name', type: 'string', omitEmpty: true },
      { name: 'Tag', type: 'string', omitEmpty: true },
      { name: 'Digest', type: 'digest.Digest' },
      { name: 'RepoTags', type: '[]string' },
      { name: 'Created', type: '*time.Time' },
      { name: 'DockerVersion', type: 'string' },
      { name: 'Labels', type: 'map[string]string' },
      { name: 'Architecture', type: 'string' },
      { name: 'Os', type: 'string' },
      { name: 'Variant', type: 'string', hidden: true },
      { name: 'Layers', type: '[]string' },
      { name: 'LayersData', type: '[]types.ImageInspectLayer' },
      { name: 'Env', type: '[]string' },
    ],
  },
  {
    name: 'types.ImageInspectLayer',
    fields: [
      { name: 'MIMEType', type: 'string' },
      { name: 'Digest', type: 'digest.Digest' },
      { name: 'Size', type: 'int64' },
      { name: 'Annotations', type: 'map[string]string' },
    ],
  },
]);

function render(template: string, data: unknown = inspect, options?: GoTemplateOptions): string {
  return renderGoTemplate(template, data, { structTypes: INSPECT_TYPES, rootType: 'inspect.Output', ...options });
}

/** Asserts that rendering fails with a TemplateError whose message matches. */
function rejects(template: string, message: RegExp, data: unknown = inspect, options?: GoTemplateOptions): TemplateError {
  let caught: unknown;
  try {
    render(template, data, options);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof TemplateError, `expected a TemplateError for ${template}, got ${String(caught)}`);
  assert.match(caught.message, message);
  return caught;
}

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

describe('renderGoTemplate: Go printing of values', () => {
  it('prints strings, integers and booleans', () => {
    assert.equal(render('{{.Os}} {{(index .LayersData 1).Size}} {{true}} {{false}} {{-42}}'), 'linux 1048576 true false -42');
  });

  it('prints floats like %v (shortest repr, exponent from 1e+06 and below 1e-04)', () => {
    assert.equal(render('{{1.5}} {{1.0}} {{123456.0}} {{1e6}} {{1234567.0}} {{0.0001}} {{0.00001}} {{-2.5e-7}} {{1e100}}'), '1.5 1 123456 1e+06 1.234567e+06 0.0001 1e-05 -2.5e-07 1e+100');
    assert.equal(render('{{-0.0}} {{1e-320}} {{3.14159265358979}}'), '-0 1e-320 3.14159265358979');
  });

  it('prints slices as [a b c] and nil or empty slices as []', () => {
    assert.equal(render('{{.Env}}'), '[PATH=/usr/bin A=<b>&c]');
    assert.equal(render('{{.RepoTags}}|{{.Env}}|{{.Layers}}', bare), '[]|[]|[]');
  });

  it('prints maps in sorted key order and nil maps as map[]', () => {
    assert.equal(render('{{.Labels}}'), 'map[alpha:<a&b> empty: num:5 zeta:z]');
    assert.equal(render('{{.Labels}}', bare), 'map[]');
  });

  it('sorts map keys by UTF-8 byte order', () => {
    const data = { ...inspect, Labels: { 'é': '1', z: '2', '\u{1F600}': '3', '\uFF5E': '4', A: '5' } };
    assert.equal(render('{{.Labels}}', data), 'map[A:5 z:2 é:1 ～:4 😀:3]');
  });

  it('prints structs as {v1 v2 ...} in declaration order', () => {
    assert.equal(render('{{index .LayersData 1}}'), '{application/vnd.oci.image.layer.v1.tar+gzip sha256:bbbb 1048576 map[a:1 b:2]}');
    assert.equal(
      render('{{.}}'),
      `{registry.example.com/team/app  ${DIGEST} [1.0 latest] 2024-01-02 03:04:05.1234 +0000 UTC  map[alpha:<a&b> empty: num:5 zeta:z] amd64 linux [sha256:aaaa sha256:bbbb] ` +
        '[{application/vnd.oci.image.layer.v1.tar+gzip sha256:aaaa 32 map[]} {application/vnd.oci.image.layer.v1.tar+gzip sha256:bbbb 1048576 map[a:1 b:2]}] [PATH=/usr/bin A=<b>&c]}',
    );
  });

  it('prints field names with %+v', () => {
    assert.equal(render('{{printf "%+v" (index .LayersData 0)}}'), '{MIMEType:application/vnd.oci.image.layer.v1.tar+gzip Digest:sha256:aaaa Size:32 Annotations:map[]}');
  });

  it('prints time values with time.Time.String()', () => {
    assert.equal(render('{{.Created}}'), '2024-01-02 03:04:05.1234 +0000 UTC');
    assert.equal(render('{{printf "%v|%s|%q" .Created .Created .Created}}'), '2024-01-02 03:04:05.1234 +0000 UTC|2024-01-02 03:04:05.1234 +0000 UTC|"2024-01-02 03:04:05.1234 +0000 UTC"');
  });

  it('formats times in their own zone, trimming fractional zeros', () => {
    const created = (c: string): string => render('{{.Created}}', { ...inspect, Created: c });
    assert.equal(created('2024-01-02T03:04:05+02:00'), '2024-01-02 03:04:05 +0200 +0200');
    assert.equal(created('2024-01-02T03:04:05-00:30'), '2024-01-02 03:04:05 -0030 -0030');
    assert.equal(created('2024-01-02T03:04:05+00:00'), '2024-01-02 03:04:05 +0000 UTC');
    assert.equal(created('2024-01-02T03:04:05.000Z'), '2024-01-02 03:04:05 +0000 UTC');
    assert.equal(created('2024-01-02T03:04:05.123456789123Z'), '2024-01-02 03:04:05.123456789 +0000 UTC');
    assert.equal(created('0001-01-01T00:00:00Z'), '0001-01-01 00:00:00 +0000 UTC');
  });

  // Time strings are read by go-time's parseGoTime, Go's own RFC 3339 grammar (the one configs'
  // `created` is read with), so every time inspect prints can be a template time.
  it('reads time strings with Go\'s RFC 3339 grammar', () => {
    const created = (c: string): string => render('{{.Created}}', { ...inspect, Created: c });
    assert.equal(created('2024-01-02T03:04:05+24:00'), '2024-01-02 03:04:05 +2400 +2400');
    assert.equal(created('2024-01-02T3:04:05,5Z'), '2024-01-02 03:04:05.5 +0000 UTC');
    assert.throws(() => created('2024-01-02t03:04:05Z'), { name: 'TypeError', message: /invalid time value/ });
    assert.throws(() => created('2024-01-02T03:04:05z'), { name: 'TypeError', message: /invalid time value/ });
  });

  it('prints a nil time as <nil> and treats it as false', () => {
    assert.equal(render('{{.Created}}|{{printf "%v" .Created}}|{{if .Created}}y{{else}}n{{end}}', bare), '<nil>|<nil>|n');
  });

  it('distinguishes <no value> from <nil>', () => {
    assert.equal(render('{{.Labels.missing}}|{{print .Labels.missing}}|{{.Labels.missing | print}}|{{printf "%v" .Labels.missing}}'), '<no value>|<nil>|<nil>|<nil>');
  });

  it('prints a Go value of any type through print without spaces between string operands', () => {
    assert.equal(render('{{print nil 1 2 "a" "b" 3 true false}}'), '<nil> 1 2ab3 true false');
    assert.equal(render('{{print .Created .Env .Labels 1.5 2}}'), '2024-01-02 03:04:05.1234 +0000 UTC [PATH=/usr/bin A=<b>&c] map[alpha:<a&b> empty: num:5 zeta:z] 1.5 2');
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

describe('renderGoTemplate: index and len', () => {
  it('indexes slices, maps and strings (bytes), with several indexes', () => {
    assert.equal(render('{{index .Layers 1}}|{{index .Labels "alpha"}}|{{index .Os 0}}|{{index .Env 0 1}}'), 'sha256:bbbb|<a&b>|108|65');
    assert.equal(render('{{index .LayersData 1 | printf "%v"}}'), '{application/vnd.oci.image.layer.v1.tar+gzip sha256:bbbb 1048576 map[a:1 b:2]}');
    assert.equal(render('{{index .Labels}}'), 'map[alpha:<a&b> empty: num:5 zeta:z]');
  });

  it('returns the zero value for a missing map key, also of a nil map', () => {
    assert.equal(render('[{{index .Labels "nope"}}]'), '[]');
    assert.equal(render('[{{index .Labels "nope"}}]', bare), '[]');
  });

  it('reports Go errors for bad indexing', () => {
    rejects('{{index .Layers 2}}', /error calling index: reflect: slice index out of range/);
    rejects('{{index .Layers 5}}', /error calling index: index out of range: 5/);
    rejects('{{index .Layers -1}}', /error calling index: index out of range: -1/);
    rejects('{{index .Labels 1}}', /error calling index: value has type int; should be string/);
    rejects('{{index .Labels .Digest}}', /value has type digest\.Digest; should be string/);
    rejects('{{index .Architecture "x"}}', /cannot index slice\/array with type string/);
    rejects('{{index nil 0}}', /error calling index: index of untyped nil/);
    rejects('{{index .Labels.nope 0}}', /index of untyped nil/);
    rejects('{{index .Created 0}}', /can't index item of type time\.Time/);
    rejects('{{index . 0}}', /can't index item of type inspect\.Output/);
  });

  it('measures strings in UTF-8 bytes and collections in elements', () => {
    assert.equal(render('{{len .Labels}} {{len .Os}} {{len "héllo"}} {{len .Env}} {{len .LayersData}}'), '4 5 6 2 2');
    assert.equal(render('{{len .Labels}} {{len .Env}}', bare), '0 0');
  });

  it('reports Go errors for len of unsized values', () => {
    rejects('{{len 3}}', /error calling len: len of type int/);
    rejects('{{len nil}}', /error calling len: reflect: call of reflect\.Value\.Type on zero Value/);
    rejects('{{len .Created}}', /len of type time\.Time/);
    rejects('{{len .Created}}', /len of nil pointer/, bare);
  });
});

describe('renderGoTemplate: printf', () => {
  it('formats %s %d %v %q and %%', () => {
    assert.equal(render('{{printf "%s %d %v %q %%" "a" 5 .Env "q\\"x"}}'), 'a 5 [PATH=/usr/bin A=<b>&c] "q\\"x" %');
  });

  it('applies width, precision and flags', () => {
    assert.equal(render('{{printf "%5s|%-5s|%05d|%.2s|%+d" "a" "b" 42 "xyz" 3}}'), '    a|b    |00042|xy|+3');
    assert.equal(render('{{printf "%5.1f|%-8.3s|%08d|%-08d|%+q|%#x|%#o|% d|%x" -2.25 "héllo" -42 42 "é" 255 8 5 -255}}'), ' -2.2|hél     |-0000042|42      |"\\u00e9"|0xff|010| 5|-ff');
    assert.equal(render('{{printf "%.0d|%.0d|%5.0d|%.3d|%+.3d|%#b|%O" 0 1 0 7 7 5 8}}'), '|1|     |007|+007|0b101|0o10');
    assert.equal(render('{{printf "%05s|%5t|%-7t|%05t" "ab" true false true}}'), '000ab| true|false  |0true');
  });

  it('rounds floats half to even on exact ties', () => {
    assert.equal(render('{{printf "%.1f|%.0f|%.0f|%.2f|%.1e|%.3g|%.3g|%g" 2.25 0.5 1.5 0.125 1.25 1.0 1234.5 100000.0}}'), '2.2|0|2|0.12|1.2e+00|1|1.23e+03|100000');
  });

  it('formats floats with e, f and g verbs', () => {
    assert.equal(render('{{printf "%e|%E|%.0e|%g|%G|%.10g|%.2g|%g|%g|%g" 0.0 123456.0 5.5 1e-5 1e-5 3.14159265358979 0.000123456 1e21 123456789.0 0.0001}}'), '0.000000e+00|1.234560E+05|6e+00|1e-05|1E-05|3.141592654|0.00012|1e+21|1.23456789e+08|0.0001');
    assert.equal(render('{{printf "%f|%.1f|%.3f|%8.2f|%-8.2f|%08.2f|%+08.2f|% .2f|%6.2v" 1e21 0.05 2.0005 3.14159 3.14159 -3.14159 3.14159 3.14159 3.14159}}'), '1000000000000000000000.000000|0.1|2.001|    3.14|3.14    |-0003.14|+0003.14| 3.14|   3.1');
  });

  it('quotes strings and runes like strconv', () => {
    assert.equal(render('{{printf "%q|%q|%q|%#q|%#q" "é\\x01\\u2028" "\\u263a" 9786 "ab" "a`b"}}'), '"é\\x01\\u2028"|"☺"|\'☺\'|`ab`|"a`b"');
    assert.equal(render('{{printf "%q|%+q|%#q|%U|%#U|%c|%q" "a\\x00b\\u00a0" "日本" "日本" 128512 128512 -1 2000000}}'), '"a\\x00b\\u00a0"|"\\u65e5\\u672c"|`日本`|U+1F600|U+1F600 \'😀\'|�|\'�\'');
    assert.equal(render('{{printf "%10.3q" "abcdef"}}'), '     "abc"');
  });

  it('formats strings and byte values in hex', () => {
    assert.equal(render('{{printf "%x|% x|%X|%#x" "héllo" "ab" "hi" "hi"}}'), '68c3a96c6c6f|61 62|6869|0x6869');
    assert.equal(render('{{printf "%x" .Env}}'), '[504154483d2f7573722f62696e 413d3c623e2663]');
  });

  it('applies the verb to the elements of slices and maps', () => {
    assert.equal(render('{{printf "%q" .Env}}'), '["PATH=/usr/bin" "A=<b>&c"]');
    assert.equal(render('{{printf "%q" .Labels}}'), 'map["alpha":"<a&b>" "empty":"" "num":"5" "zeta":"z"]');
    assert.equal(render('{{printf "%10v|%-10v|" .Env .Os}}'), '[PATH=/usr/bin    A=<b>&c]|linux     |');
  });

  it('reports bad verbs, missing and extra operands inline as Go does', () => {
    assert.equal(render('{{printf "%d" "x"}}|{{printf "%s" 5}}|{{printf "%s" true}}|{{printf "%s" nil}}|{{printf "%t" 1}}'), '%!d(string=x)|%!s(int=5)|%!s(bool=true)|%!s(<nil>)|%!t(int=1)');
    assert.equal(render('{{printf "%d" .Digest}}'), `%!d(digest.Digest=${DIGEST})`);
    assert.equal(render('{{printf "%d" .Env}}'), '[%!d(string=PATH=/usr/bin) %!d(string=A=<b>&c)]');
    assert.equal(render('{{printf "%d %s" 1}}|{{printf "%d" 1 2 "x" nil}}'), '1 %!s(MISSING)|1%!(EXTRA int=2, string=x, <nil>)');
    assert.equal(render('{{printf "%!"}}|{{printf "%z" 1}}|{{printf "%"}}'), '%!!(MISSING)|%!z(int=1)|%!(NOVERB)');
  });

  it('supports explicit argument indexes and * width and precision', () => {
    assert.equal(render('{{printf "%[2]d %[1]d" 1 2}}|{{printf "%[3]d" 1}}|{{printf "%*d" 5 3}}|{{printf "%.*f" 2 3.14159}}|{{printf "%*s" "x" "y"}}'), '2 1|%!d(BADINDEX)|    3|3.14|%!(BADWIDTH)y');
  });

  it('prints %T type names', () => {
    assert.equal(render('{{printf "%T %T %T %T %T %T" .Digest .Labels 1 nil (index .Os 0) .Created}}'), 'digest.Digest map[string]string int <nil> uint8 *time.Time');
  });

  it('requires a string format', () => {
    rejects('{{printf}}', /wrong number of args for printf: want at least 1 got 0/);
    rejects('{{printf 1}}', /expected string; found 1/);
    rejects('{{printf .Digest}}', /wrong type for value; expected string; got digest\.Digest/);
    rejects('{{printf .Labels.nope}}', /invalid value; expected string/);
    assert.equal(render('{{"x" | printf}}'), 'x');
  });

  it('prints println operands separated by spaces with a final newline', () => {
    assert.equal(render('{{println 1 "a" 2}}'), '1 a 2\n');
    assert.equal(render('{{print}}|{{println}}|'), '|\n|');
  });

  it('rejects fmt features outside the subset', () => {
    rejects('{{printf "%#v" .Labels}}', /unsupported template syntax: %#v/);
    rejects('{{printf "%x" 3.5}}', /unsupported template syntax: %x of a floating-point value/);
    rejects('{{printf "%d" .Created}}', /unsupported template syntax: %d of a time value/);
  });
});

describe('renderGoTemplate: comparisons and logic', () => {
  it('compares basic values', () => {
    assert.equal(render('{{eq "a" "b" "a"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 2.5}}'), 'true true true true true false');
    assert.equal(render('{{eq .Labels.num "5" "6"}} {{ne .Os "linux"}} {{lt .Os "mac"}} {{ge (len .Env) 2}} {{eq (index .Os 0) 108}}'), 'true false true true true');
    assert.equal(render('{{eq .Digest "' + DIGEST + '"}} {{.Labels.num | eq "5"}}'), 'true true');
  });

  it('compares strings by byte order', () => {
    assert.equal(render('{{lt "\\uFF5E" "\\U0001F600"}} {{lt "Z" "a"}}'), 'true true');
  });

  it('treats missing values as comparable only to missing values', () => {
    assert.equal(render('{{eq .Labels.x "x"}} {{eq .Labels.x .Labels.y}} {{eq nil nil}} {{eq .Labels nil}}'), 'false true true false');
    assert.equal(render('{{eq .Labels nil}}', bare), 'true');
  });

  it('reports Go comparison errors', () => {
    rejects('{{eq 1 1.0}}', /error calling eq: incompatible types for comparison/);
    rejects('{{eq "a" 1}}', /incompatible types for comparison/);
    rejects('{{lt 1 2.0}}', /error calling lt: incompatible types for comparison/);
    rejects('{{lt true false}}', /error calling lt: invalid type for comparison/);
    rejects('{{lt .Labels.x "a"}}', /invalid type for comparison/);
    rejects('{{eq 1}}', /error calling eq: missing argument for comparison/);
    rejects('{{eq .Labels .Labels}}', /non-comparable type map\[alpha:<a&b> empty: num:5 zeta:z\]: map\[string\]string/);
    rejects('{{eq .Env .Env}}', /non-comparable type \[PATH=\/usr\/bin A=<b>&c\]: \[\]string/);
    rejects('{{eq .Labels .Env}}', /non-comparable types map\[.*\]: map\[string\]string, \[\]string: \[.*\]/);
  });

  it('returns the deciding operand from and / or and short-circuits', () => {
    assert.equal(render('{{and 1 0 2}} {{and 1 2}} {{or 0 "" "x"}} {{or 0 ""}}'), '0 2 x ');
    assert.equal(render('{{or .Labels.x "d"}}|{{and .Labels .Env}}|{{or .Name "noname"}}', bare), 'd|map[]|noname');
    assert.equal(render('{{and false (index .Env 99)}} {{or true (len 3)}}'), 'false true');
    assert.equal(render('{{not .Labels.missing}}|{{and .Labels.missing 1}}|{{.Labels.missing | not}}'), 'true|<no value>|true');
  });

  it('negates truth with not', () => {
    assert.equal(render('{{not 0}} {{not .Env}} {{not ""}} {{not .Created}}'), 'true false true false');
    rejects('{{not}}', /wrong number of args for not: want 1 got 0/);
    rejects('{{not 1 2}}', /wrong number of args for not: want 1 got 2/);
    rejects('{{and}}', /wrong number of args for and: want at least 1 got 0/);
  });
});

describe('renderGoTemplate: skopeo report functions', () => {
  it('json-encodes compactly with sorted map keys and without HTML escaping', () => {
    assert.equal(render('{{json .Labels}}'), '{"alpha":"<a&b>","empty":"","num":"5","zeta":"z"}');
    assert.equal(render('{{json .Env}}|{{json .RepoTags}}|{{json .Os}}|{{json (index .LayersData 1).Size}}'), '["PATH=/usr/bin","A=<b>&c"]|["1.0","latest"]|"linux"|1048576');
  });

  it('json-encodes nil slices, maps and times as null', () => {
    assert.equal(render('{{json .Labels}}|{{json .Env}}|{{json .Created}}|{{json .Labels.x}}|{{json nil}}', bare), 'null|null|null|null|null');
  });

  it('json-encodes times in RFC 3339 with trimmed nanoseconds', () => {
    assert.equal(render('{{json .Created}}'), '"2024-01-02T03:04:05.1234Z"');
    assert.equal(render('{{json .Created}}', { ...inspect, Created: '2024-01-02T03:04:05.500+02:00' }), '"2024-01-02T03:04:05.5+02:00"');
  });

  it('json-encodes the inspect struct like skopeo (omitempty Name/Tag, no Variant)', () => {
    assert.equal(
      render('{{json .}}', bare),
      `{"Digest":"${DIGEST}","RepoTags":[],"Created":null,"DockerVersion":"","Labels":null,"Architecture":"arm64","Os":"linux","Layers":[],"LayersData":[],"Env":null}`,
    );
    assert.equal(render('{{json (index .LayersData 0)}}'), '{"MIMEType":"application/vnd.oci.image.layer.v1.tar+gzip","Digest":"sha256:aaaa","Size":32,"Annotations":null}');
  });

  it('json-escapes control characters and line separators like encoding/json', () => {
    const data = { ...inspect, Labels: { s: 'q"\\\n\t\r\b\f\u0001\u007f\u2028\u2029é😀' } };
    assert.equal(render('{{json .Labels.s}}', data), '"q\\"\\\\\\n\\t\\r\\b\\f\\u0001\u007f\\u2028\\u2029é😀"');
  });

  it('json-encodes floats like encoding/json', () => {
    const data = { ...inspect, Extra: [1.5, 1e21, 1e-7, 0.000001, -0, 123456789.25] };
    assert.equal(render('{{json .Extra}}', data), '[1.5,1e+21,1e-7,0.000001,-0,123456789.25]');
  });

  it('joins a string list with a separator', () => {
    assert.equal(render('{{join .RepoTags ", "}}|{{join .Env ""}}|[{{join .Env ","}}]', inspect), '1.0, latest|PATH=/usr/binA=<b>&c|[PATH=/usr/bin,A=<b>&c]');
    assert.equal(render('[{{join .Env ","}}][{{join .RepoTags ","}}]', bare), '[][]');
  });

  it('rejects join of anything but a []string', () => {
    rejects('{{join .LayersData ","}}', /wrong type for value; expected \[\]string; got \[\]types\.ImageInspectLayer/);
    rejects('{{join .Os ","}}', /wrong type for value; expected \[\]string; got string/);
    rejects('{{join "a" ","}}', /can't handle "a" for arg of type \[\]string/);
    // strings.Join takes the list first, so a piped list lands in the separator position.
    rejects('{{.RepoTags | join ";"}}', /can't handle ";" for arg of type \[\]string/);
  });

  it('upper- and lower-cases strings rune by rune', () => {
    assert.equal(render('{{upper .Os}}|{{lower "MiXeD ÄÖ"}}|{{.Architecture | upper}}'), 'LINUX|mixed äö|AMD64');
    assert.equal(render('{{upper "straße ŉ"}}|{{lower "İ"}}'), 'STRAßE ŉ|i');
  });

  it('requires a plain string for string functions, as Go does for digest.Digest', () => {
    rejects('{{upper .Digest}}', /wrong type for value; expected string; got digest\.Digest/);
    rejects('{{upper 1}}', /expected string; found 1/);
    rejects('{{upper nil}}', /cannot assign nil to string/);
    rejects('{{lower .Labels.missing}}', /invalid value; expected string/);
    rejects('{{upper .Extra}}', /wrong type for value; expected string; got interface \{\}/, { ...inspect, Extra: null });
  });

  it('supports title, split, pad and truncate', () => {
    assert.equal(render('{{title "hello wide_world-x ǆ"}}'), 'Hello Wide_world-X ǅ');
    assert.equal(render('{{split "a,b,,c" ","}}|{{len (split "" ",")}}|{{split "hé" ""}}'), '[a b  c]|1|[h é]');
    assert.equal(render('[{{pad "x" 2 1}}][{{pad "" 2 1}}]'), '[  x ][]');
    assert.equal(render('{{truncate .Os 3}}|{{truncate .Os 10}}'), 'lin|linux');
    rejects('{{pad "x" -1 0}}', /error calling pad: strings: negative Repeat count/);
    rejects('{{truncate "x" 1.5}}', /expected integer; found 1\.5/);
    rejects('{{truncate "x" (index .LayersData 0).Size}}', /wrong type for value; expected int; got int64/);
  });
});

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

  it('names the failing action in execution errors', () => {
    const e = rejects('ok {{index .Layers 9}}', /^template: 1:6: executing at <index \.Layers 9>: error calling index: index out of range: 9$/);
    assert.equal(e.column, 6);
  });

  it('rejects define, template and block as unsupported', () => {
    rejects('{{define "x"}}y{{end}}', /unsupported template syntax: \{\{define\}\}/);
    rejects('{{template "x"}}', /unsupported template syntax: \{\{template\}\}/);
    rejects('{{block "x" .}}y{{end}}', /unsupported template syntax: \{\{block\}\}/);
  });

  it('rejects Go builtins outside the subset as unsupported', () => {
    for (const f of ['html', 'js', 'urlquery', 'slice', 'call']) rejects(`{{${f} .Os}}`, new RegExp(`unsupported template syntax: function "${f}"`));
  });

  it('rejects complex numbers, time methods and invalid UTF-8 literals as unsupported', () => {
    rejects('{{1i}}', /unsupported template syntax: complex number 1i/);
    rejects('{{.Created.Year}}', /unsupported template syntax: method Year of a time value/);
    rejects('{{"\\xff"}}', /unsupported template syntax: string literal "\\xff" is not valid UTF-8/);
  });

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

  it('reports undefined variables at parse time', () => {
    rejects('{{$nope}}', /undefined variable "\$nope"/);
  });

  it('bounds the output size and the amount of work', () => {
    rejects('{{range 100}}{{$.Digest}}{{end}}', /output exceeds 1000 characters/, inspect, { maxOutputLength: 1000 });
    rejects('{{range 1000000000}}{{end}}', /execution exceeds 10000 steps/, inspect, { maxSteps: 10_000 });
    rejects('{{printf "%2000s" "x"}}', /output exceeds 1000 characters/, inspect, { maxOutputLength: 1000 });
  });

  it('bounds template nesting', () => {
    rejects(`{{${'('.repeat(600)}1${')'.repeat(600)}}}`, /unsupported template syntax: nesting deeper than 500 levels/);
  });

  it('rejects data that cannot be mapped to Go values with a TypeError, not a TemplateError', () => {
    assert.throws(() => render('{{.Created}}', { ...inspect, Created: 'yesterday' }), { name: 'TypeError', message: /invalid time value "yesterday"/ });
    assert.throws(() => render('{{.Os}}', { ...inspect, Created: '2024-02-30T00:00:00Z' }), { name: 'TypeError', message: /invalid time value "2024-02-30T00:00:00Z"/ });
    const cyclic: Record<string, unknown> = { ...inspect };
    cyclic['Self'] = cyclic;
    assert.throws(() => render('{{.Os}}', cyclic), { name: 'TypeError', message: /cyclic data structure/ });
    assert.throws(() => render('{{.Os}}', { ...inspect, Extra: () => 1 }), { name: 'TypeError', message: /unsupported data value of type function/ });
  });
});

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
