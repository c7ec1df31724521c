import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DIGEST, bare, inspect, render, rejects } from './testing/template-fixture';

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

  // Expected strings are what skopeo 1.9.3's `inspect --format` prints for the same values.
  it('prints Go syntax with %#v', () => {
    assert.equal(render('{{printf "%#v" .Labels}}'), 'map[string]string{"alpha":"<a&b>", "empty":"", "num":"5", "zeta":"z"}');
    assert.equal(render('{{printf "%#v|%#v|%#v" .Env .Digest (len .Layers)}}'), `[]string{"PATH=/usr/bin", "A=<b>&c"}|"${DIGEST}"|2`);
    assert.equal(render('{{printf "%#v %#v %#v %#v" true 1.5 1e21 (index .Os 0)}}|{{printf "%#v" nil}}|{{printf "%#v" .Labels.missing}}'), 'true 1.5 1e+21 0x6c|<nil>|<nil>');
    assert.equal(render('{{printf "%#10v|%#-6v|" .Os .Os}}'), '   "linux"|"linux"|');
    assert.equal(render('{{printf "%#v" (index .LayersData 0)}}'), 'types.ImageInspectLayer{MIMEType:"application/vnd.oci.image.layer.v1.tar+gzip", Digest:"sha256:aaaa", Size:32, Annotations:map[string]string(nil)}');
    assert.equal(render('{{printf "%#v|%#v|%#v" .Labels .Env .Created}}', bare), 'map[string]string(nil)|[]string(nil)|<nil>');
  });

  it('rejects fmt features outside the subset', () => {
    rejects('{{printf "%#v" .Created}}', /unsupported template syntax: %#v of a time value/);
    rejects('{{printf "%x" 3.5}}', /unsupported template syntax: %x of a floating-point value/);
    rejects('{{printf "%d" .Created}}', /unsupported template syntax: %d of a time value/);
  });
});
