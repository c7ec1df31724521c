import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DIGEST, bare, inspect, render, rejects } from './testing/template-fixture';

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

// Expected strings are what skopeo 1.9.3's `inspect --format` prints for the same values.
describe('renderGoTemplate: the escaping builtins, slice and call', () => {
  it('html escapes quotes, ampersands and angle brackets', () => {
    assert.equal(render('{{html .Labels.alpha}}|{{html .Env}}|{{html "it\'s \\"q\\""}}'), '&lt;a&amp;b&gt;|[PATH=/usr/bin A=&lt;b&gt;&amp;c]|it&#39;s &#34;q&#34;');
  });

  it('js escapes quotes, backslashes, <>&= and control characters', () => {
    assert.equal(render('{{js .Env}}|{{js "a\'b\\"c\\\\d\\te"}}'), '[PATH\\u003D/usr/bin A\\u003D\\u003Cb\\u003E\\u0026c]|a\\\'b\\"c\\\\d\\u0009e');
    assert.equal(render('{{js "héllo ✓"}}'), 'héllo ✓');
  });

  it('urlquery escapes as url.QueryEscape, its arguments joined as fmt.Sprint joins them', () => {
    assert.equal(render('{{urlquery .Name}}|{{urlquery "a b~" "c"}}|{{urlquery "é" 1 2}}'), 'registry.example.com%2Fteam%2Fapp|a+b~c|%C3%A91+2');
  });

  it('slices strings by bytes, keeping their type, and slices with two or three indexes', () => {
    assert.equal(render('{{slice .Digest 0 12}}|{{printf "%T" (slice .Digest 7)}}|{{slice .Layers 1}}|{{slice .RepoTags 0 1 2}}|{{slice .Os}}'), 'sha256:9211f|digest.Digest|[sha256:bbbb]|[1.0]|linux');
  });

  it('reports Go errors for bad slicing and for call', () => {
    rejects('{{slice .Os 0 1 2}}', /error calling slice: cannot 3-index slice a string/);
    rejects('{{slice .Layers 3}}', /error calling slice: index out of range: 3/);
    rejects('{{slice .Layers 2 1}}', /error calling slice: invalid slice index: 2 > 1/);
    rejects('{{slice .Labels 0}}', /error calling slice: can't slice item of type map\[string\]string/);
    rejects('{{slice nil 0}}', /error calling slice: slice of untyped nil/);
    rejects('{{call .Os}}', /error calling call: non-function of type string/);
  });
});

// Expected strings are what skopeo 1.9.3's `inspect --format` prints for the same values.
describe('renderGoTemplate: methods of time values', () => {
  const offset = { ...inspect, Created: '2023-05-06T07:08:09.123456789+02:00' };

  it('reads the calendar in the time\'s own offset; Month and Weekday print their names', () => {
    assert.equal(
      render('{{.Created.Year}} {{.Created.Month}} {{printf "%d" .Created.Month}} {{.Created.Day}} {{.Created.Hour}}:{{.Created.Minute}}:{{.Created.Second}} {{.Created.Nanosecond}} {{.Created.YearDay}} {{.Created.Weekday}}', offset),
      '2023 May 5 6 7:8:9 123456789 126 Saturday',
    );
    assert.equal(render('{{.Created.Unix}} {{.Created.UnixMilli}} {{.Created.IsZero}} {{.Created.UTC}} {{printf "%T" .Created.UTC}}', offset), '1683349689 1683349689123 false 2023-05-06 05:08:09.123456789 +0000 UTC time.Time');
  });

  it("wraps UnixNano in int64 as Go does and knows Go's zero time", () => {
    const zero = { ...inspect, Created: '0001-01-01T00:00:00Z' };
    assert.equal(render('{{.Created.UnixNano}} {{.Created.IsZero}}', zero), '-6795364578871345152 true');
  });

  it('formats with Go layouts', () => {
    assert.equal(
      render('{{.Created.Format "2006-01-02T15:04:05.000Z07:00 Mon Jan _2 3:4:5 PM pm MST -0700 -07 Z07:00:00 .999999999 ,000 002 __2 06 January Monday"}}', offset),
      '2023-05-06T07:08:09.123+02:00 Sat May  6 7:8:9 AM am +0200 +0200 +02 +02:00:00 .123456789 ,123 126 126 23 May Saturday',
    );
    assert.equal(render('{{.Created.UTC.Format "Mon, 02 Jan 2006 15:04:05 MST"}}|{{"2006" | .Created.Format}}|{{.Created.Format "Janet Monk"}}', offset), 'Sat, 06 May 2023 05:08:09 UTC|2023|Janet Monk');
  });

  it('reports wrong arguments, a nil time and the methods left out', () => {
    rejects('{{.Created.Format}}', /wrong number of args for Format: want 1 got 0/);
    rejects('{{.Created.Year 1}}', /wrong number of args for Year: want 0 got 1/);
    rejects('{{.Created.Format .Os}}', /unsupported template syntax/);
    rejects('{{.Created.Year}}', /error calling Year: value method time\.Time\.Year called using nil \*Time pointer/, bare);
    rejects('{{.Created.Add 1}}', /unsupported template syntax: method Add of a time value/);
  });
});
